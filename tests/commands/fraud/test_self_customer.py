"""Self-referral by identity on postbacks: the customer is the earning affiliate."""

from __future__ import annotations

from datetime import UTC, datetime

from commands.fraud.rules import FraudRules
from commands.tracking.conversions import TrackingRules, record_conversion
from storage import Database
from storage.fraud import Flag
from tests.tracking_support import seed

NOON = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
# These postbacks carry a code and no click: the no-click rule (tested on its own) is off
# so only the self-customer rule speaks.
RULES = TrackingRules(
    fraud=FraudRules(alert_targets=(("telegram", "900", "user"),), flag_without_click=False)
)


async def open_flags(database: Database) -> list[Flag]:
    async with database.read() as store:
        return await store.fraud.open_flags(since=None, program_id=None)


async def test_a_customer_id_naming_the_affiliates_own_account_is_flagged(
    database: Database,
) -> None:
    seeded = await seed(database)
    await seed(database, user="bob")
    own = {
        "code": seeded.link.code,
        "txn_id": "S-1",
        "amount": "40",
        "customer_id": "console:alice",
    }
    await record_conversion(database, seeded.program, own, now=NOON, rules=RULES)
    [flag] = await open_flags(database)
    assert flag.rule == "self-customer"
    assert flag.affiliate_id == seeded.affiliate.id
    assert flag.evidence == {"txn_id": "S-1", "customer_platform": "console"}
    async with database.read() as store:
        conversion = await store.conversions.by_txn(seeded.program.id, "S-1")
        assert conversion is not None
        assert await store.fraud.conversions_of(flag.id) == [(conversion.id, False)]
    # Another affiliate's account as the customer, an unknown account, or a shop's own
    # customer number: a customer like any other.
    for txn, customer in (("S-2", "console:bob"), ("S-3", "telegram:404"), ("S-4", "C-77")):
        fields = {"code": seeded.link.code, "txn_id": txn, "amount": "5", "customer_id": customer}
        await record_conversion(database, seeded.program, fields, now=NOON, rules=RULES)
    assert [f.rule for f in await open_flags(database)] == ["self-customer"]
