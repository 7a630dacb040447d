"""Referral farming: codes whose referred accounts never talk to the bot again."""

from __future__ import annotations

from dataclasses import replace

from bot.scheduler import ScheduleService
from commands.broadcasts.schedule_runs import Audiences
from commands.core.dispatcher import Dispatcher
from commands.core.invocation import Actor
from commands.fraud.inactive import check_inactive_referrals
from commands.fraud.rules import FraudRules
from commands.tracking.referrals import Outcome, record_signup
from storage import Database
from storage.fraud import Flag
from storage.referrals import SIGNUP_REFERRALS
from tests.conftest import Chat, Clock
from tests.tracking_support import Seeded, seed

RULES = FraudRules(
    referrals_per_code=1000,
    referral_inactive_days=7,
    referral_inactive_percent=80,
    referral_inactive_min=5,
    alert_targets=(("telegram", "900", "user"),),
)


async def signups_on(database: Database, clock: Clock) -> Seeded:
    seeded = await seed(database)
    async with database.transaction() as store:
        settings = {**seeded.program.settings, SIGNUP_REFERRALS: True}
        await store.program_settings.replace_settings(seeded.program.id, settings, now=clock())
    return seeded


async def refer(database: Database, seeded: Seeded, user_id: str, clock: Clock) -> None:
    result = await record_signup(
        database, seeded.link.code, platform="console", user_id=user_id, now=clock(), fraud=RULES
    )
    assert result.outcome in (Outcome.RECORDED, Outcome.REPEATED)


async def open_flags(database: Database) -> list[Flag]:
    async with database.read() as store:
        return await store.fraud.open_flags(since=None, program_id=None)


def service(database: Database, clock: Clock, rules: FraudRules = RULES) -> ScheduleService:
    return ScheduleService(
        database,
        Audiences(channels=(), managers=(), platforms=frozenset({"console"})),
        clock=clock,
        fraud=rules,
    )


async def test_a_code_whose_referrals_never_come_back_is_flagged_once(
    database: Database, clock: Clock, dispatcher: Dispatcher
) -> None:
    seeded = await signups_on(database, clock)
    for n in range(6):
        await refer(database, seeded, f"ghost{n}", clock)
    jobs = service(database, clock)
    # Not old enough yet: nothing is decided, nothing flagged.
    clock.advance(days=6)
    assert await jobs.inactive_referrals() == 0
    async with database.read() as store:
        assert await store.referral_activity.per_code([seeded.link.id]) == []
    clock.advance(days=1, seconds=1)
    assert await jobs.inactive_referrals() == 1
    [flag] = await open_flags(database)
    assert flag.rule == "inactive-referrals"
    assert flag.link_id == seeded.link.id
    assert flag.affiliate_id == seeded.affiliate.id
    assert flag.evidence == {"inactive": 6, "referrals": 6, "days": 7, "threshold_percent": 80}
    # Incremental: a later run decides nothing new and raises nothing again.
    assert await jobs.inactive_referrals() == 0
    async with database.read() as store:
        alert = await store.outbox.by_key(f"fraud:{flag.id}:telegram:user:900")
    assert alert is not None
    # A new referral whose account uses the bot (any command) counts as active.
    await refer(database, seeded, "keen", clock)
    clock.advance(hours=1)
    await Chat(dispatcher, Actor("console", "keen", "Keen"))("/programs")
    clock.advance(days=7)
    await jobs.inactive_referrals()
    async with database.read() as store:
        [code] = await store.referral_activity.per_code([seeded.link.id])
    assert (code.decided, code.inactive) == (7, 6)


async def test_referrals_that_come_back_keep_the_code_clean(
    database: Database, clock: Clock
) -> None:
    seeded = await signups_on(database, clock)
    for n in range(10):
        await refer(database, seeded, f"user{n}", clock)
    clock.advance(days=2)
    # Three come back by starting the bot again through the link: 7 of 10 inactive < 80%.
    for n in range(3):
        await refer(database, seeded, f"user{n}", clock)
    clock.advance(days=6)
    assert await service(database, clock).inactive_referrals() == 0
    assert await open_flags(database) == []
    async with database.read() as store:
        [code] = await store.referral_activity.per_code([seeded.link.id])
    assert (code.decided, code.inactive) == (10, 7)


async def test_few_inactive_referrals_or_rules_off_raise_nothing(
    database: Database, clock: Clock
) -> None:
    seeded = await signups_on(database, clock)
    for n in range(4):
        await refer(database, seeded, f"few{n}", clock)
    clock.advance(days=8)
    assert await service(database, clock, replace(RULES, enabled=False)).inactive_referrals() == 0
    # Below the minimum count (5): all four inactive is still no flag.
    assert await service(database, clock).inactive_referrals() == 0
    assert await open_flags(database) == []


async def test_a_backlog_is_decided_in_batches(database: Database, clock: Clock) -> None:
    seeded = await signups_on(database, clock)
    for n in range(7):
        await refer(database, seeded, f"old{n}", clock)
    clock.advance(days=30)
    async with database.transaction() as store:
        assert await check_inactive_referrals(store, RULES, now=clock(), batch=3) == []
    async with database.transaction() as store:
        assert await check_inactive_referrals(store, RULES, now=clock(), batch=3) != []
    async with database.read() as store:
        [code] = await store.referral_activity.per_code([seeded.link.id])
    assert (code.decided, code.inactive) == (6, 6)
