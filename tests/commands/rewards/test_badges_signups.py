"""Badges once each, manager bonuses, double-sided signup rewards with qualification, the
/rewards view and the points leaderboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from commands.broadcasts.weekly_post import archive_season
from commands.core import calendar
from commands.reporting import render_season, season_label
from commands.tracking.conversions import TrackingRules, record_conversion
from commands.tracking.referrals import Outcome as SignupOutcome
from commands.tracking.referrals import record_signup
from storage import Database
from tests.activity import add_conversions, add_member, add_program
from tests.conftest import Chat, Clock
from tests.tracking_support import Seeded, seed

RULES = TrackingRules()


async def convert(
    database: Database,
    seeded: Seeded,
    clock: Clock,
    txn: str,
    status: str = "approved",
    **extra: str,
) -> None:
    fields = {"code": seeded.link.code, "txn_id": txn, "amount": "100", "status": status, **extra}
    await record_conversion(database, seeded.program, fields, now=clock(), rules=RULES)


async def test_milestone_badges_are_awarded_once(
    database: Database, clock: Clock, manager: Chat
) -> None:
    seeded = await seed(database)
    aff = seeded.affiliate.id
    await convert(database, seeded, clock, "A")
    await convert(database, seeded, clock, "A", "reversed")
    await convert(database, seeded, clock, "B")  # the first conversion again: no new badge
    async with database.read() as store:
        badges = await store.rewards.badges(aff)
        note = await store.outbox.by_key(f"badge:{aff}:first-conversion:console:user:alice")
    assert [b.badge for b in badges] == ["first-conversion"]
    assert note is not None
    assert note["payload"]["title"] == "New badge!"
    async with database.transaction() as store:
        assert not await store.rewards.award_badge(aff, "first-conversion", None, at=clock())
    refused = await manager("/reward alice first-conversion")
    assert refused.text == "#1 alice already has the first-conversion badge."
    granted = await manager("/reward alice top-helper great answers")
    assert granted.text == "Granted #1 alice the top-helper badge. They are told privately."
    for n in range(9):
        await convert(database, seeded, clock, f"M{n}")
    async with database.read() as store:
        names = [b.badge for b in await store.rewards.badges(aff)]
    assert names == ["first-conversion", "top-helper", "10-conversions"]


async def test_money_bonus_is_audited_and_announced(
    database: Database, clock: Clock, manager: Chat, alice: Chat
) -> None:
    seeded = await seed(database)
    reply = await manager("/reward #1 50 USD best launch week")
    assert reply.text == "Granted #1 alice a bonus of 50.00 USD. They are told privately."
    assert "amount like 50 USD" in (await manager("/reward #1 lots!")).text
    async with database.read() as store:
        totals = await store.rewards.bonus_totals(seeded.affiliate.id)
        audit = await store.audit.recent()
        note = await store.outbox.by_key(
            f"bonus:{seeded.affiliate.id}:{clock().isoformat()}:console:user:alice"
        )
    assert totals == {"USD": 5000}
    assert audit[0].action == "rewards.bonus"
    assert audit[0].after == {
        "amount_minor": 5000,
        "currency": "USD",
        "reason": "best launch week",
    }
    assert note is not None
    assert "50.00 USD" in note["payload"]["text"]
    view = await alice("/rewards")
    assert ("Bonuses granted", "50.00 USD") in [(f.name, f.value) for f in view.fields]


async def test_rewards_view_shows_tier_points_badges_and_next_steps(
    database: Database, clock: Clock, manager: Chat, alice: Chat
) -> None:
    seeded = await seed(database)
    await manager("/tier set shop Bronze 0")
    await manager("/tier set shop Silver 3 90 2%")
    await convert(database, seeded, clock, "A")
    view = await alice("/rewards")
    fields = {f.name: f.value for f in view.fields}
    assert fields["Points"] == "10"
    assert fields["Tiers"] == ("Shop: Bronze; 2 more approved conversions in 90 days to Silver")
    assert fields["Badges"] == "first-conversion"
    assert fields["Next milestone"] == "9 more approved conversions to the 10-conversions badge"
    await convert(database, seeded, clock, "B")
    await convert(database, seeded, clock, "C")
    fields = {f.name: f.value for f in (await alice("/rewards")).fields}
    assert fields["Tiers"] == "Shop: Silver (+2% commission in force)"


async def test_points_leaderboard(
    database: Database, clock: Clock, manager: Chat, alice: Chat
) -> None:
    alice_seed = await seed(database)
    bob_seed = await seed(database, user="bob")
    await convert(database, alice_seed, clock, "A1")
    await convert(database, bob_seed, clock, "B1")
    await convert(database, bob_seed, clock, "B2")
    clock.advance(minutes=1)  # a current period ends at "now", exclusive
    board = await manager("/leaderboard month points")
    assert board.table is not None
    assert [row[1:] for row in board.table.rows] == [("bob", "20"), ("alice", "10")]
    await convert(database, bob_seed, clock, "B1", "reversed")
    await convert(database, bob_seed, clock, "B2", "reversed")
    clock.advance(minutes=1)
    board = await manager("/leaderboard month points shop")
    assert board.table is not None
    assert [row[1:] for row in board.table.rows] == [("alice", "10")]


async def _signup_program(database: Database, manager: Chat, clock: Clock) -> Seeded:
    seeded = await seed(database)
    async with database.transaction() as store:
        await store.referrals.set_signup_referrals(seeded.program.id, True, now=clock())
    await manager("/reward_rules shop welcome Use code WELCOME10 for 10% off")
    await manager("/reward_rules shop qualify-days 7")
    return seeded


async def test_double_sided_signup_rewards_need_qualification(
    database: Database, clock: Clock, manager: Chat
) -> None:
    seeded = await _signup_program(database, manager, clock)
    code = seeded.link.code
    first = await record_signup(database, code, platform="telegram", user_id="42", now=clock())
    again = await record_signup(database, code, platform="telegram", user_id="42", now=clock())
    assert (first.outcome, again.outcome) == (SignupOutcome.RECORDED, SignupOutcome.REPEATED)
    async with database.read() as store:
        welcome = await store.outbox.by_key(f"welcome:{seeded.program.id}:telegram:user:42")
        signup = await store.conversions.by_txn(seeded.program.id, "signup:telegram:42")
        points = await store.rewards.ranking(None, None, {})
    assert welcome is not None
    assert welcome["payload"]["text"] == "Use code WELCOME10 for 10% off"
    assert signup is not None
    assert signup.status == "pending"
    assert points == []  # farming /start earns nothing
    # Coming back after the qualifying days qualifies it, once.
    clock.advance(days=8)
    for _ in range(2):
        await record_signup(database, code, platform="telegram", user_id="42", now=clock())
    async with database.read() as store:
        signup = await store.conversions.by_txn(seeded.program.id, "signup:telegram:42")
        points = await store.rewards.ranking(None, None, {})
        note = await store.outbox.by_key(
            f"signup-qualified:{signup.id if signup else 0}:console:user:alice"
        )
    assert signup is not None
    assert signup.status == "approved"
    assert [(s.affiliate_id, s.value) for s in points] == [(seeded.affiliate.id, 1)]
    assert note is not None


async def test_a_sale_by_the_referred_customer_qualifies_the_signup(
    database: Database, clock: Clock, manager: Chat
) -> None:
    seeded = await _signup_program(database, manager, clock)
    code = seeded.link.code
    await record_signup(database, code, platform="telegram", user_id="77", now=clock())
    await record_signup(database, code, platform="telegram", user_id="78", now=clock())
    await convert(database, seeded, clock, "S1", customer_id="telegram:77")
    await convert(database, seeded, clock, "S1", "paid")
    async with database.read() as store:
        qualified = await store.conversions.by_txn(seeded.program.id, "signup:telegram:77")
        waiting = await store.conversions.by_txn(seeded.program.id, "signup:telegram:78")
        points = await store.rewards.ranking(None, None, {})
    assert qualified is not None
    assert qualified.status == "approved"
    assert waiting is not None
    assert waiting.status == "pending"
    assert [s.value for s in points] == [11]  # 10 for the sale, 1 for the qualified signup


async def test_weekly_post_gives_the_weeks_new_badges_a_shout_out(
    database: Database, clock: Clock
) -> None:
    zone = ZoneInfo("UTC")
    monday = datetime(2026, 11, 9, 10, tzinfo=UTC)  # last week for the clock
    program = await add_program(database, clock())
    member = await add_member(database, clock(), program, "Ann")
    await add_conversions(database, member, [monday + timedelta(minutes=n) for n in range(3)])
    async with database.transaction() as store:
        assert await store.rewards.award_badge(
            member.affiliate_id, "first-conversion", None, at=monday
        )
        assert await store.rewards.award_badge(
            member.affiliate_id, "older", None, at=monday - timedelta(days=30)
        )
        span = calendar.period("last-week", clock(), zone)
        season = await archive_season(store, span, zone, now=clock())
    reply = render_season(season, season_label(season, zone))
    assert "New badges: Ann (first-conversion)" in reply.notes


async def test_a_finished_week_awards_top_three_and_streak_badges_once(
    database: Database, clock: Clock
) -> None:
    zone = ZoneInfo("UTC")
    monday = datetime(2026, 11, 9, 10, tzinfo=UTC)  # last week for the clock
    program = await add_program(database, clock())
    steady = await add_member(database, clock(), program, "Steady")
    late = await add_member(database, clock(), program, "Late")
    weeks = [monday - timedelta(days=7 * back) for back in range(4)]
    await add_conversions(database, steady, weeks)  # one in each of 4 weeks
    await add_conversions(database, late, [monday, monday - timedelta(days=21)])  # a gap
    span = calendar.period("last-week", clock(), zone)
    for _ in range(2):  # a second composition shows the archive and awards nothing new
        async with database.transaction() as store:
            await archive_season(store, span, zone, now=clock())
    async with database.read() as store:
        steady_badges = [b.badge for b in await store.rewards.badges(steady.affiliate_id)]
        late_badges = [b.badge for b in await store.rewards.badges(late.affiliate_id)]
    assert steady_badges == ["top-3-of-a-week", "4-week-streak"]
    assert late_badges == ["top-3-of-a-week"]
