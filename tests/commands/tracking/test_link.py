"""/link: the share text fills the program's placeholders; a cap pause is said out loud
(issue 16: bug 12 and the /link friction item)."""

from __future__ import annotations

from datetime import timedelta

from commands.core.reply import Reply
from storage import Database
from tests.conftest import Chat, Clock
from tests.core_seed import add_conversion


def fields(reply: Reply) -> dict[str, str]:
    return {field.name: field.value for field in reply.fields}


async def test_share_text_fills_link_and_program_in_the_sample_post(
    manager: Chat, alice: Chat
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await manager('/program edit shop --name "The Shop"')
    await manager('/program edit shop --sample-post "Deals at {program}: {link} - go!"')
    await alice("/join shop")
    link = await alice("/link shop youtube")
    url = fields(link)["Link"]
    # The link goes where the post puts it, once; nothing is escaped in the core.
    assert fields(link)["Share text"] == f"Deals at The Shop: {url} - go!"


async def test_a_post_without_link_gets_it_at_the_end(manager: Chat, alice: Chat) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await manager('/program edit shop --sample-post "Great {program} deals"')
    await alice("/join shop")
    link = await alice("/link shop")
    assert fields(link)["Share text"] == f"Great shop deals {fields(link)['Link']}"


async def test_unknown_placeholders_are_refused_with_the_ones_that_work(
    manager: Chat, database: Database
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    for option in ("--sample-post", "--guidelines"):
        reply = await manager(f'/program edit shop {option} "Buy here: {{url}}"')
        assert reply.text.startswith(
            "Unknown placeholder {url}: write {link} or {program}, "
            "which are filled in for each affiliate."
        ), reply.text
        assert "Usage: /program edit" in reply.text
    async with database.read() as store:
        program = await store.programs.by_slug("shop")
    assert program is not None
    assert program.materials == {}
    # Braces that are not placeholder-like stay plain text.
    saved = await manager('/program edit shop --sample-post "Save {10%}!"')
    assert saved.title == "Program shop updated"


async def test_link_says_when_a_cap_paused_the_program(
    manager: Chat, alice: Chat, database: Database, clock: Clock
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await manager("/cap set shop 2 day conversions pause")
    await alice("/join shop")
    assert "Paused by a cap" not in fields(await alice("/link shop"))
    for minutes in (30, 20):
        await add_conversion(database, "alice", "shop", at=clock.now - timedelta(minutes=minutes))
    paused = fields(await alice("/link shop"))["Paused by a cap"]
    assert paused == (
        "shop has reached its cap (2 conversions per day), so it is paused for you: "
        'visitors see an "offer not available" page and conversions earn nothing until '
        "the day ends (Thu 19 Nov 00:00). The link stays the same and counts again after that."
    )
    await manager("/program edit shop --fallback-url https://shop.example/sold-out")
    assert (
        "clicks go to the program's fallback page"
        in fields(await alice("/link shop"))["Paused by a cap"]
    )
    # A notify cap changes nothing for clicks, so /link says nothing.
    await manager("/cap set shop 2 day conversions notify")
    assert "Paused by a cap" not in fields(await alice("/link shop"))
