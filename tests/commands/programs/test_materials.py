"""/materials fills {link} and {program} for whoever reads it (issue 16, bug 12)."""

from __future__ import annotations

from commands.core.reply import Reply
from tests.conftest import Chat


def fields(reply: Reply) -> dict[str, str]:
    return {field.name: field.value for field in reply.fields}


async def test_materials_show_the_readers_own_link_in_sample_posts(
    manager: Chat, alice: Chat, bob: Chat
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await manager('/program edit shop --guidelines "Always use {link} for {program}."')
    await manager('/program edit shop --sample-post "Love {program}? {link}"')
    await manager('/program edit shop --sample-post "No link here"')
    await alice("/join shop")
    url = fields(await alice("/link shop"))["Link"]
    shown = await alice("/materials shop")
    assert fields(shown) == {
        "Guidelines": f"Always use {url} for shop.",
        "Sample post 1": f"Love shop? {url}",
        "Sample post 2": "No link here",
    }
    assert shown.notes == (f"Add your link to the posts that do not show it: {url}",)
    assert fields(await alice("/materials")) == fields(shown)
    # Someone without a link is told where to get one, in place of the link.
    stranger = await bob("/materials shop")
    assert fields(stranger)["Sample post 1"] == "Love shop? (your link: /link shop)"
    assert stranger.notes == ("Get your own link with /link shop; the posts then show it.",)
