"""Joins through an affiliate's invite are screened for referral farming (never rewarded)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from commands.core.invocation import Services
from commands.fraud.referrals import DISCORD_EPOCH_MS
from commands.fraud.rules import FraudRules
from storage.fraud import Flag
from tests.adapters.discord.test_invites import SPRING, alice_invite, wait_for_joins
from tests.fakes.discord_harness import Bot, running_bot
from tests.fakes.discord_payloads import FakeMember, FakeUser

RULES = FraudRules(
    referrals_per_code=3,
    min_account_age_days=7,
    alert_targets=(("telegram", "900", "user"),),
)


@pytest.fixture
async def bot(services: Services) -> AsyncIterator[Bot]:
    screened = services
    async with running_bot(screened, fraud=RULES) as running:
        await running.one(running.manager, "program add", SPRING)
        async with screened.database.transaction() as store:
            program = await store.programs.by_slug("spring-sale")
            assert program is not None
            await store.server_joins.set_program_invites(program.id, True, now=screened.clock())
        yield running


async def flags_of(bot: Bot, count: int) -> list[Flag]:
    found: list[Flag] = []
    for _ in range(500):
        async with bot.services.database.read() as store:
            found = await store.fraud.open_flags(since=None, program_id=None)
        if len(found) >= count:
            return sorted(found, key=lambda flag: flag.id)
        await bot.fake.wait_for(lambda: True)
    raise AssertionError(f"expected {count} flags, found {found}")


async def test_a_burst_of_joins_on_one_invite_is_flagged_once(bot: Bot) -> None:
    code = await alice_invite(bot)
    for n in range(4):
        # One at a time: joins arriving together cannot be attributed (counts rise by 2+).
        await bot.fake.member_join(bot.guild, f"joiner{n}", via=bot.guild.invites[code])
        rows = await wait_for_joins(bot, n + 1)
    assert {row.invite_code for row in rows} == {code}
    [burst] = await flags_of(bot, 1)
    assert burst.rule == "referral-burst"
    assert burst.affiliate_id == rows[0].affiliate_id is not None
    assert burst.evidence["joins"] == 3
    assert burst.evidence["invite"] == code
    async with bot.services.database.read() as store:
        assert await store.outbox.by_key(f"fraud:{burst.id}:telegram:user:900") is not None
        # Screened, still never rewarded: no conversion for any join.
        program = await store.programs.by_slug("spring-sale")
        assert program is not None
        assert await store.referrals.signups_of(burst.affiliate_id or 0) == []


async def test_a_brand_new_account_joining_through_an_invite_is_flagged(bot: Bot) -> None:
    code = await alice_invite(bot)
    # An account made an hour before the join (the snowflake carries its birth time).
    born = bot.services.clock() - timedelta(hours=1)
    member_id = str((int(born.timestamp() * 1000) - DISCORD_EPOCH_MS) << 22)
    fresh = FakeMember(FakeUser(member_id, "fresh"))
    bot.guild.members[member_id] = fresh
    bot.guild.invites[code].uses += 1
    await bot.fake.dispatch(
        "GUILD_MEMBER_ADD", {**fresh.payload(), "guild_id": bot.guild.id}, bot.guild.id
    )
    await wait_for_joins(bot, 1)
    # An old account through the same invite raises nothing.
    await bot.fake.member_join(bot.guild, "veteran", via=bot.guild.invites[code])
    await wait_for_joins(bot, 2)
    [young] = await flags_of(bot, 1)
    assert young.rule == "new-account"
    assert young.evidence["account_age_hours"] == 1.0
    assert young.evidence["invite"] == code
