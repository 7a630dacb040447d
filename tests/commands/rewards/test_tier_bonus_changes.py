"""A tier's bonus changed by /tier set applies to the next conversion of affiliates who
already hold the tier (found by the model-based test, tests/model)."""

from __future__ import annotations

from datetime import timedelta

from commands.tracking.conversions import TrackingRules, record_conversion
from storage import Database
from tests.conftest import Chat, Clock
from tests.tracking_support import seed

RULES = TrackingRules()


async def test_a_changed_tier_bonus_pays_from_then_on_not_the_old_one(
    database: Database, clock: Clock, manager: Chat
) -> None:
    seeded = await seed(database)  # 10% of each sale

    async def sale(txn: str, **extra: str) -> str:
        fields = {
            "code": seeded.link.code,
            "txn_id": txn,
            "amount": "100",
            "status": "approved",
            **extra,
        }
        outcome = await record_conversion(
            database, seeded.program, fields, now=clock(), rules=RULES
        )
        return str(outcome.body["commission"])

    await manager("/tier set shop Silver 1 0 5%")
    assert await sale("A") == "10.00"  # reaches Silver with this sale
    clock.advance(minutes=1)
    assert await sale("B") == "15.00"  # Silver: 10% + 5%
    before_the_change = clock() + timedelta(seconds=30)
    clock.advance(minutes=1)
    await manager("/tier set shop Silver 1 0 2%")
    clock.advance(minutes=1)
    # Still Silver, and Silver now brings 2 percentage points, not the 5 it used to.
    assert await sale("C") == "12.00"
    # A late report of a sale from before the change keeps the bonus of its own time.
    assert await sale("LATE", occurred_at=before_the_change.isoformat()) == "15.00"
