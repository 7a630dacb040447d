"""Invite tracking: personal server invites with /link, joins attributed by use counts,
leaves, joins that cannot be attributed, and that a join never earns anything."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.adapters.discord.invites import Attribution, attribute
from commands.core.invocation import Services
from storage.server_joins import ServerJoin
from tests.conftest import Clock
from tests.fakes.discord_harness import Bot, running_bot
from tests.fakes.discord_payloads import FakeMember

SPRING = {
    "slug": "spring-sale",
    "destination-url": "https://shop.example/spring",
    "commission": "12%",
    "name": "Spring Sale",
}


@pytest.fixture
async def bot(services: Services) -> AsyncIterator[Bot]:
    async with running_bot(services) as running:
        await running.one(running.manager, "program add", SPRING)
        async with services.database.transaction() as store:
            program = await store.programs.by_slug("spring-sale")
            assert program is not None
            await store.server_joins.set_program_invites(program.id, True, now=services.clock())
        yield running


async def alice_invite(bot: Bot) -> str:
    await bot.one(bot.alice, "join", {"program": "spring-sale"})
    link, invite = await bot.run(bot.alice, "link", {"program": "spring-sale"}, count=2)
    assert link.embed["title"] == "Your link for Spring Sale"
    assert invite.ephemeral
    assert invite.kind == "followup"
    assert "never rewarded" in invite.embed["description"]
    fields = {f["name"]: f["value"] for f in invite.embed["fields"]}
    url: str = fields["Invite"]
    assert url.startswith("https://discord.gg/")
    return url.rsplit("/", 1)[1]


async def joins(bot: Bot) -> list[ServerJoin]:
    async with bot.services.database.read() as store:
        return await store.server_joins.joins_in(bot.guild.id)


async def wait_for_joins(bot: Bot, count: int) -> list[ServerJoin]:
    found: list[ServerJoin] = []

    async def enough() -> bool:
        found[:] = await joins(bot)
        return len(found) >= count

    for _ in range(500):
        if await enough():
            return found
        await bot.fake.wait_for(lambda: True)
    raise AssertionError(f"expected {count} joins, found {found}")


async def test_link_hands_out_one_personal_invite_and_reuses_it(bot: Bot) -> None:
    code = await alice_invite(bot)
    assert code in bot.guild.invites
    assert bot.guild.invites[code].channel_id == bot.guild.system_channel_id
    _, again = await bot.run(bot.alice, "link", {"program": "spring-sale"}, count=2)
    assert code in again.embed["fields"][0]["value"]
    created = [r for r in bot.fake.requests if r[0] == "POST" and r[1].endswith("/invites")]
    assert len(created) == 1


async def test_no_invite_for_refused_links_or_programs_without_invites(bot: Bot) -> None:
    (refused,) = await bot.run(bot.bob, "link", {"program": "spring-sale"})
    assert "not an affiliate yet" in refused.embed["description"]
    other = {**SPRING, "slug": "autumn", "name": "Autumn"}
    await bot.one(bot.manager, "program add", other)
    await bot.one(bot.bob, "join", {"program": "autumn"})
    answers = await bot.run(bot.bob, "link", {"program": "autumn"})
    assert len(answers) == 1
    assert not [r for r in bot.fake.requests if r[1].endswith("/invites") and r[0] == "POST"]


async def test_the_link_still_comes_when_the_invite_cannot_be_made(bot: Bot) -> None:
    bot.fake.fail(
        "POST", r"/channels/\d+/invites$", 403, code=50013, message="Missing Permissions"
    )
    await bot.one(bot.alice, "join", {"program": "spring-sale"})
    (link,) = await bot.run(bot.alice, "link", {"program": "spring-sale"})
    assert link.embed["title"] == "Your link for Spring Sale"
    async with bot.services.database.read() as store:
        alice = await store.affiliates.by_identity("discord", bot.alice.user.id)
        assert alice is not None
        assert await store.server_joins.invite_of(alice.id, bot.guild.id) is None


async def test_a_join_through_an_invite_is_attributed_once(bot: Bot) -> None:
    code = await alice_invite(bot)
    newcomer = await bot.fake.member_join(bot.guild, "newcomer", via=bot.guild.invites[code])
    (join,) = await wait_for_joins(bot, 1)
    async with bot.services.database.read() as store:
        alice = await store.affiliates.by_identity("discord", bot.alice.user.id)
    assert alice is not None
    assert (join.member_id, join.affiliate_id, join.invite_code) == (
        newcomer.user.id,
        alice.id,
        code,
    )
    assert (join.status, join.unattributed_reason) == ("joined", None)
    # Discord may deliver an event twice: the member is still recorded once.
    await bot.fake.dispatch(
        "GUILD_MEMBER_ADD", {**newcomer.payload(), "guild_id": bot.guild.id}, bot.guild.id
    )
    later = await bot.fake.member_join(bot.guild, "someone")  # a marker to wait for
    rows = await wait_for_joins(bot, 2)
    assert [row.member_id for row in rows] == [newcomer.user.id, later.user.id]


async def test_a_join_earns_nothing(bot: Bot) -> None:
    code = await alice_invite(bot)
    await bot.fake.member_join(bot.guild, "newcomer", via=bot.guild.invites[code])
    await wait_for_joins(bot, 1)
    async with bot.services.database.read() as store:
        alice = await store.affiliates.by_identity("discord", bot.alice.user.id)
        assert alice is not None
        totals = await store.performance.affiliate_totals(alice.id, None, bot.services.clock())
        counts = await store.server_joins.counts_for_affiliate(alice.id)
    assert totals == []  # no conversion, no commission
    assert (counts.joined, counts.left) == (1, 0)
    (stats,) = await bot.run(bot.alice, "stats", {"period": "all"})
    assert "No clicks or conversions" in stats.embed["description"]
    _, invite = await bot.run(bot.alice, "link", {"program": "spring-sale"}, count=2)
    shown = {f["name"]: f["value"] for f in invite.embed["fields"]}
    assert shown["Joined"] == "1"


async def test_a_leave_within_the_window_marks_the_join_left(
    bot: Bot, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.adapters.discord.invites")
    code = await alice_invite(bot)
    quick = await bot.fake.member_join(bot.guild, "quick", via=bot.guild.invites[code])
    await wait_for_joins(bot, 1)  # joins close together are ambiguous by design
    stayer = await bot.fake.member_join(bot.guild, "stayer", via=bot.guild.invites[code])
    await wait_for_joins(bot, 2)

    async def leave(member: FakeMember) -> None:
        await bot.fake.member_leave(bot.guild, member)
        marker = f"member {member.user.id} left"
        await bot.fake.wait_for(lambda: any(marker in r.getMessage() for r in caplog.records))

    clock.advance(days=2)
    await leave(quick)
    clock.advance(days=40)  # beyond the program's 30-day window: a kept member
    await leave(stayer)
    rows = {row.member_id: row for row in await joins(bot)}
    assert rows[quick.user.id].status == "left"
    assert rows[quick.user.id].left_at == clock.now - timedelta(days=40)
    assert rows[stayer.user.id].status == "joined"
    assert rows[quick.user.id].affiliate_id is not None
    async with bot.services.database.read() as store:
        counts = await store.server_joins.counts_for_affiliate(
            rows[quick.user.id].affiliate_id or 0
        )
    assert (counts.joined, counts.left) == (2, 1)


async def test_joins_that_cannot_be_attributed_are_never_guessed(bot: Bot) -> None:
    code = await alice_invite(bot)
    mine = bot.guild.invites[code]
    foreign = bot.fake.add_invite(bot.guild, inviter=bot.fake.owner)
    # The bot hears about invites from INVITE_CREATE; this one it saw being made.
    await bot.fake.dispatch(
        "INVITE_CREATE",
        {
            "channel_id": foreign.channel_id,
            "guild_id": bot.guild.id,
            "code": foreign.code,
            "created_at": foreign.created_at,
            "inviter": bot.fake.owner.payload(),
            "max_age": 0,
            "max_uses": 0,
            "temporary": False,
            "uses": 0,
        },
        bot.guild.id,
    )
    vanity = await bot.fake.member_join(bot.guild, "vanity")  # no invite count rises
    await wait_for_joins(bot, 1)
    mine.uses += 1  # two invites rise for one join
    both = await bot.fake.member_join(bot.guild, "both", via=foreign)
    await wait_for_joins(bot, 2)
    other = await bot.fake.member_join(bot.guild, "other", via=foreign)
    await wait_for_joins(bot, 3)
    bot.fake.fail("GET", r"/guilds/\d+/invites$", 503)  # the counts cannot be read
    missed = await bot.fake.member_join(bot.guild, "missed", via=mine)
    await wait_for_joins(bot, 4)
    after_gap = await bot.fake.member_join(bot.guild, "after-gap", via=mine)
    rows = {row.member_id: row for row in await wait_for_joins(bot, 5)}
    reasons = {member_id: row.unattributed_reason for member_id, row in rows.items()}
    assert reasons == {
        vanity.user.id: "vanity",
        both.user.id: "ambiguous",
        other.user.id: "other",
        missed.user.id: "missed",
        after_gap.user.id: "missed",  # counts before it were unknown: not guessed either
    }
    assert all(row.affiliate_id is None for row in rows.values())
    assert rows[other.user.id].invite_code == foreign.code


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ({"a": 1, "b": 0}, {"a": 2, "b": 0}, Attribution("a", None)),
        ({"a": 1}, {"a": 1, "new": 1}, Attribution("new", None)),
        ({"a": 1}, {"a": 1}, Attribution(None, "vanity")),
        ({"a": 1, "b": 0}, {"a": 2, "b": 1}, Attribution(None, "ambiguous")),
        ({"a": 1}, {"a": 3}, Attribution("a", "ambiguous")),
        ({"a": 1, "gone": 4}, {"a": 2}, Attribution(None, "ambiguous")),
        (None, {"a": 2}, Attribution(None, "missed")),
        ({"a": 1}, None, Attribution(None, "missed")),
    ],
)
def test_attribution_rules(
    before: dict[str, int] | None, after: dict[str, int] | None, expected: Attribution
) -> None:
    assert attribute(before, after) == expected
