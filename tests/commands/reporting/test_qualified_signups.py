"""Unqualified signups never count as conversions or rank (issue 16 #3): /leaderboard,
/report, /stats, the weekly post, caps and the leaderboard export all count through one
predicate (``storage.conversions.counted``)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from commands.reporting.export import export_table
from commands.tracking.conversions import TrackingRules, record_conversion
from commands.tracking.referrals import record_signup
from storage import Database
from tests.conftest import Chat, Clock
from tests.tracking_support import seed

RULES = TrackingRules()


async def test_bare_starts_raise_no_rank_until_they_qualify(
    database: Database, clock: Clock, manager: Chat, bob: Chat
) -> None:
    alice = await seed(database)
    farmer = await seed(database, user="bob")
    async with database.transaction() as store:
        await store.referrals.set_signup_referrals(alice.program.id, True, now=clock())
    await manager("/reward_rules shop qualify-days 7")
    fields = {"code": alice.link.code, "txn_id": "SALE", "amount": "100", "status": "approved"}
    await record_conversion(database, alice.program, fields, now=clock(), rules=RULES)
    for user in range(1, 4):  # three throwaway accounts
        await record_signup(
            database, farmer.link.code, platform="telegram", user_id=str(user), now=clock()
        )
    clock.advance(minutes=1)
    board = await manager("/leaderboard month conversions")
    assert board.table is not None
    assert [row[1:] for row in board.table.rows] == [("alice", "1")]
    report = await manager("/report")
    assert report.table is not None
    conversions = report.table.headers.index("conv.")
    assert [row[conversions] for row in report.table.rows] == ["1"]
    leaders = {f.name: f.value for f in report.fields}["Top affiliates (conversions)"]
    assert "bob" not in leaders
    stats = await bob("/stats")
    assert "Rank" not in {f.name for f in stats.fields}
    exported = await export_table(
        database, "leaderboard", now=clock(), zone=ZoneInfo("UTC"), period="month"
    )
    assert [row[2] for row in exported.rows] == ["alice"]
    async with database.read() as store:
        weekly = await store.weekly.totals(clock() - timedelta(days=1), clock())
        usage = await store.conversions.usage(alice.program.id, "conversions", None, None)
    assert {(t.affiliate_id, t.conversions) for t in weekly} == {(alice.affiliate.id, 1)}
    assert usage == 1
    # One comes back after the qualifying days: that one counts, the other two never do.
    clock.advance(days=8)
    await record_signup(database, farmer.link.code, platform="telegram", user_id="1", now=clock())
    async with database.read() as store:
        counted = await store.performance.ranking("conversions", None, clock())
    assert [(s.affiliate_id, s.value) for s in counted] == [
        (alice.affiliate.id, 1),
        (farmer.affiliate.id, 1),
    ]
