"""A suspended affiliate earns nothing new and is paid nothing while suspended (issue 16 #1).

Conversions reported during a suspension are recorded for the audit trail with no
commission, on every path (click, code, recurring customer, CSV import); commission that
was pending or approved at suspension is withheld from /payouts, /payout mark and the
payout CSV until /reinstate, and /earnings and the conversions CSV say so.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.importer import import_conversions
from commands.core.invocation import Services
from commands.reporting.export import export_table
from commands.tracking.conversions import TrackingRules, record_conversion
from storage import Database
from tests.conftest import Chat, Clock
from tests.tracking_support import Seeded, running, seed
from tests.web.test_postback_auth import click
from tests.web.test_postback_rules import post

RULES = TrackingRules()
UTC_ZONE = ZoneInfo("UTC")


async def convert(
    database: Database, seeded: Seeded, clock: Clock, txn: str, **extra: str
) -> dict[str, Any]:
    fields = {"code": seeded.link.code, "txn_id": txn, "amount": "100", **extra}
    outcome = await record_conversion(database, seeded.program, fields, now=clock(), rules=RULES)
    return outcome.body


async def due(manager: Chat) -> tuple[tuple[str, ...], ...]:
    """The rows of /payouts (none when nobody is due)."""
    reply = await manager("/payouts")
    return reply.table.rows if reply.table is not None else ()


async def test_a_postback_with_an_earlier_click_earns_nothing_after_suspend(
    services: Services, database: Database, manager: Chat, clock: Clock
) -> None:
    seeded = await seed(database)
    async with running(services) as client:
        click_id = await click(client, seeded)
        assert (await manager("/suspend #1 cookie stuffing")).text.startswith("Suspended #1")
        status, body = await post(
            client, click_id=click_id, txn_id="S-1", amount="100", status="approved"
        )
        _, again = await post(
            client, click_id=click_id, txn_id="S-1", amount="100", status="approved"
        )
    assert status == 200
    assert body["commissionable"] is False
    assert body["commission"] == "0.00"
    assert body["affiliate_suspended"] is True
    assert body["note"] == "affiliate #1 is suspended: recorded without commission"
    assert again == {**body, "duplicate": True}
    async with database.read() as store:
        stored = await store.conversions.by_txn(seeded.program.id, "S-1")
        balances = await store.payouts.balances(now=clock(), affiliate_id=seeded.affiliate.id)
        points = await store.rewards.ranking(None, None, {})
    assert stored is not None  # recorded for the audit trail
    assert (stored.commission_minor, stored.while_suspended) == (0, True)
    assert [b.payable_minor + b.held_minor + b.pending_minor for b in balances] == [0]
    assert points == []
    # Reinstating does not pay what was reported during the suspension.
    await manager("/reinstate #1")
    clock.advance(days=40)
    assert (await manager("/payouts")).text == "Nobody is due a payout right now."
    exported = await export_table(
        database, "conversions", now=clock(), zone=UTC_ZONE, period="all"
    )
    (row,) = exported.rows
    columns = dict(zip(exported.headers, row, strict=True))
    assert (columns["commission"], columns["commission_note"]) == (
        "0.00",
        "earns nothing: reported while the affiliate was suspended",
    )


async def test_commission_pending_at_suspension_is_withheld_until_reinstated(
    database: Database, manager: Chat, alice: Chat, clock: Clock
) -> None:
    seeded = await seed(database)
    old = (clock() - timedelta(days=40)).isoformat()
    await convert(database, seeded, clock, "A-1", status="approved", occurred_at=old)
    await convert(database, seeded, clock, "A-2", status="pending", occurred_at=old)
    await manager("/reward #1 5 USD launch")
    assert await due(manager) == (("#1", "alice", "", "USD", "15.00 USD", "shop, bonus"),)
    await manager("/suspend #1")
    # The pending sale is approved by the network meanwhile: still withheld, not paid.
    approved = await convert(database, seeded, clock, "A-2", status="approved")
    assert approved["status"] == "approved"
    listing = await manager("/payouts")
    assert listing.text == "Nobody is due a payout right now."
    assert listing.notes == ("#1 alice: 25.00 USD withheld (suspended)",)
    refused = await manager("/payout mark #1 25.00 USD")
    assert refused.text.startswith("#1 alice is suspended, so their commission and bonuses")
    assert (await manager("/reward #1 5 USD more")).text == (
        "#1 alice is suspended; /reinstate them before a reward."
    )
    payout_csv = await export_table(database, "payouts", now=clock(), zone=UTC_ZONE)
    assert payout_csv.rows == ()
    earnings = await alice("/earnings")
    assert earnings.table is not None
    assert earnings.table.headers[-1] == "withheld"
    assert earnings.table.rows == (
        ("shop", "0.00 USD", "0.00 USD", "0.00 USD", "0.00 USD", "0.00 USD", "20.00 USD"),
        ("bonus", "0.00 USD", "0.00 USD", "0.00 USD", "0.00 USD", "0.00 USD", "5.00 USD"),
    )
    lines = {f.name: f.value for f in earnings.fields}["Next payout"]
    assert "shop: 20.00 USD is withheld while your account is suspended" in lines
    exported = await export_table(
        database, "conversions", now=clock(), zone=UTC_ZONE, period="all"
    )
    notes = {row[3]: row[exported.headers.index("commission_note")] for row in exported.rows}
    assert notes == {
        "A-1": "withheld while the affiliate is suspended",
        "A-2": "withheld while the affiliate is suspended",
    }
    # Reinstated: the same money is payable again, and /payout mark pays it.
    await manager("/reinstate #1")
    assert await due(manager) == (("#1", "alice", "", "USD", "25.00 USD", "shop, bonus"),)
    done = await manager("/payout mark #1 25.00 USD")
    assert done.text.startswith("Marked 25.00 USD as paid to #1 alice (2 conversions")


async def test_a_manager_can_reverse_withheld_commission(
    database: Database, manager: Chat, clock: Clock
) -> None:
    seeded = await seed(database)
    old = (clock() - timedelta(days=40)).isoformat()
    await convert(database, seeded, clock, "R-1", status="approved", occurred_at=old)
    await manager("/suspend #1")
    reversed_ = await convert(database, seeded, clock, "R-1", status="reversed")
    assert reversed_["status"] == "reversed"
    await manager("/reinstate #1")
    assert (await manager("/payouts")).text == "Nobody is due a payout right now."


async def test_no_path_creates_commission_while_suspended(
    database: Database, manager: Chat, clock: Clock, tmp_path: Path
) -> None:
    seeded = await seed(database, recurring_months=12)
    await convert(database, seeded, clock, "FIRST", status="approved", customer_id="c-1")
    await manager("/suspend #1")
    # The recurring commission of a returning customer, with neither click nor code.
    recurring = await record_conversion(
        database,
        seeded.program,
        {"txn_id": "AGAIN", "amount": "100", "customer_id": "c-1"},
        now=clock(),
        rules=RULES,
    )
    assert recurring.body["commissionable"] is False
    assert recurring.body["affiliate_suspended"] is True
    # A CSV import goes the same way.
    path = tmp_path / "conversions.csv"
    path.write_text(f"code,txn_id,amount,status\n{seeded.link.code},CSV-1,50,approved\n")
    summary = await import_conversions(database, path, program="shop", rules=RULES, clock=clock)
    assert summary.inserted == 1
    async with database.read() as store:
        imported = await store.conversions.by_txn(seeded.program.id, "CSV-1")
        again = await store.conversions.by_txn(seeded.program.id, "AGAIN")
    assert imported is not None
    assert again is not None
    assert [(c.commission_minor, c.while_suspended) for c in (imported, again)] == [
        (0, True),
        (0, True),
    ]
    # Nor do they count for rank once the affiliate is back.
    await manager("/reinstate #1")
    clock.advance(minutes=1)
    board = await manager("/leaderboard all conversions")
    assert board.table is not None
    assert [row[-1] for row in board.table.rows] == ["1"]


async def test_no_tier_standing_or_public_praise_from_a_suspension(
    database: Database, manager: Chat, clock: Clock
) -> None:
    seeded = await seed(database)
    rules = TrackingRules(announce_targets=(("console", "news"),))
    await manager("/tier set shop Silver 1")
    fields = {"code": seeded.link.code, "amount": "100", "status": "approved"}
    await manager("/suspend #1")
    await record_conversion(
        database, seeded.program, {**fields, "txn_id": "DURING"}, now=clock(), rules=rules
    )
    async with database.read() as store:
        assert await store.rewards.tier_at(seeded.affiliate.id, seeded.program.id, clock()) is None
    # A sale from before the suspension, approved meanwhile, reaches the tier (its
    # commission is withheld, not forfeited), but a suspended affiliate is not praised.
    await manager("/reinstate #1")
    await record_conversion(
        database,
        seeded.program,
        {**fields, "txn_id": "BEFORE", "status": "pending"},
        now=clock(),
        rules=rules,
    )
    await manager("/suspend #1")
    clock.advance(minutes=1)
    await record_conversion(
        database, seeded.program, {**fields, "txn_id": "BEFORE"}, now=clock(), rules=rules
    )
    async with database.read() as store:
        state = await store.rewards.tier_at(seeded.affiliate.id, seeded.program.id, clock())
        posted = await store.outbox.by_key(
            f"tier:{seeded.affiliate.id}:{seeded.program.id}:Silver:{clock().isoformat()}"
            ":public:console:chat:news"
        )
    assert state is not None
    assert state.tier == "Silver"
    assert posted is None
