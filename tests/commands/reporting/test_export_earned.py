"""The conversions export shows what each conversion earned (issue 16 #8): 0 with the reason
for over-cap conversions, the same sums as /earnings and the payout CSV."""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

from commands.reporting.export import export_table
from commands.tracking.conversions import TrackingRules, record_conversion
from storage import Database
from tests.conftest import Chat, Clock
from tests.tracking_support import Seeded, seed

RULES = TrackingRules()
UTC_ZONE = ZoneInfo("UTC")


async def _sales_over_a_cap(
    database: Database, clock: Clock, manager: Chat, *, cap: int, sales: int, prefix: str
) -> Seeded:
    """``sales`` approved 100 USD sales (10 USD commission each) under a hard cap of ``cap``
    conversions a month: the ones past the cap earn nothing."""
    seeded = await seed(database)
    await manager("/program edit shop --holding-days 0")
    await manager(f"/cap set shop {cap} month conversions pause")
    clock.advance(minutes=1)
    for n in range(sales):
        fields = {"code": seeded.link.code, "txn_id": f"{prefix}-{n}", "amount": "100"}
        await record_conversion(
            database, seeded.program, {**fields, "status": "approved"}, now=clock(), rules=RULES
        )
    clock.advance(minutes=1)
    return seeded


async def test_over_cap_conversions_export_zero_commission_with_the_reason(
    database: Database, clock: Clock, manager: Chat, alice: Chat
) -> None:
    await _sales_over_a_cap(database, clock, manager, cap=2, sales=3, prefix="C")
    exported = await export_table(
        database, "conversions", now=clock(), zone=UTC_ZONE, period="all"
    )
    columns = [dict(zip(exported.headers, row, strict=True)) for row in exported.rows]
    assert [
        (c["txn_id"], c["commission"], c["over_cap"], c["commission_note"]) for c in columns
    ] == [
        ("C-0", "10.00", "no", ""),
        ("C-1", "10.00", "no", ""),
        ("C-2", "0.00", "yes", "earns nothing: over the program's hard cap"),
    ]
    exported_total = sum(Decimal(c["commission"]) for c in columns)
    payouts = await export_table(database, "payouts", now=clock(), zone=UTC_ZONE)
    assert [row[5] for row in payouts.rows] == [str(exported_total)] == ["20.00"]
    earnings = await alice("/earnings")
    assert earnings.table is not None
    assert earnings.table.rows == (
        ("shop", "0.00 USD", "0.00 USD", "20.00 USD", "0.00 USD", "0.00 USD"),
    )


async def test_a_reversed_over_cap_conversion_reverses_nothing_in_earnings(
    database: Database, clock: Clock, manager: Chat, alice: Chat
) -> None:
    # Found by the model-based test: /earnings showed the commission of an over-cap sale
    # that earned nothing under "reversed" once the network reversed it.
    seeded = await _sales_over_a_cap(database, clock, manager, cap=1, sales=2, prefix="R")
    over = {"code": seeded.link.code, "txn_id": "R-1", "amount": "100", "status": "reversed"}
    await record_conversion(database, seeded.program, over, now=clock(), rules=RULES)
    earnings = await alice("/earnings")
    assert earnings.table is not None
    assert earnings.table.rows == (
        ("shop", "0.00 USD", "0.00 USD", "10.00 USD", "0.00 USD", "0.00 USD"),
    )
