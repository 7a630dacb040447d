"""One answer for a program name that matches nothing, whichever command was given it."""

from __future__ import annotations

from commands.core.programs import PROGRAMS_SHOWN, unknown_program
from tests.conftest import Chat


async def test_an_unknown_program_names_itself_and_lists_the_programs(
    manager: Chat, alice: Chat
) -> None:
    assert (await manager("/program edit nope --window 3")).text == (
        'There is no program called "nope": there are no programs yet; '
        "a manager adds one with /program add."
    )
    await manager("/program add shop https://shop.example/ 10%")
    await manager("/program add spring-sale https://shop.example/spring 12%")
    await manager("/program pause spring-sale")
    expected = 'There is no program called "nope". Programs: shop, spring-sale.'
    for line in (
        "/program edit nope --window 3",
        "/commission nope 5%",
        "/cap set nope 5 month",
        "/report month nope",
        "/fraud hold nope on",
    ):
        assert (await manager(line)).text == expected, line
    await alice("/join shop")
    assert (await alice("/link nope")).text == expected
    # Joining only counts open programs: a paused one is answered as unknown.
    assert (await alice("/join spring-sale")).text == (
        'There is no open program called "spring-sale". Open programs: shop.'
    )


async def test_letter_case_does_not_matter(manager: Chat) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    reply = await manager("/reward_role tier gold 123456789012345678 SHOP")
    assert "no program" not in reply.text
    assert "shop has no tier called gold" in reply.text


def test_a_long_name_and_a_long_list_are_clamped() -> None:
    slugs = [f"program-{number:02d}" for number in range(PROGRAMS_SHOWN + 3)]
    text = unknown_program("x" * 500, slugs)
    assert f'"{"x" * 39}…"' in text
    assert "x" * 41 not in text
    assert text.endswith(", program-09 and 3 more (see /programs).")
