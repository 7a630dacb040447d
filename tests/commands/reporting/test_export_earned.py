"""The conversions export shows what each conversion earned (issue 16 #8): 0 with the reason
for over-cap conversions, the same sums as /earnings and the payout CSV."""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

from commands.reporting.export import export_table
from commands.tracking.conversions import TrackingRules, record_conversion
from storage import Database
from tests.conftest import Chat, Clock
from tests.tracking_support import seed

RULES = TrackingRules()
UTC_ZONE = ZoneInfo("UTC")


async def test_over_cap_conversions_export_zero_commission_with_the_reason(
    database: Database, clock: Clock, manager: Chat, alice: Chat
) -> None:
    seeded = await seed(database)
    await manager("/program edit shop --holding-days 0")
    await manager("/cap set shop 2 month conversions pause")
    clock.advance(minutes=1)
    for n in range(3):
        fields = {"code": seeded.link.code, "txn_id": f"C-{n}", "amount": "100"}
        await record_conversion(
            database, seeded.program, {**fields, "status": "approved"}, now=clock(), rules=RULES
        )
    clock.advance(minutes=1)
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
