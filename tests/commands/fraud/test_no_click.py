"""The no-click rule applies whether or not the network sends a customer_id (issue 16 #6)."""

from __future__ import annotations

from commands.fraud import FraudRules
from commands.tracking.conversions import TrackingRules, record_conversion
from storage import Database
from tests.commands.fraud.test_rules import NOON, open_flags
from tests.tracking_support import seed

CUSTOMERS = ("cust-1", "telegram:42", "x")


async def test_a_code_without_a_click_is_flagged_even_with_a_customer_id(
    database: Database,
) -> None:
    seeded = await seed(database)
    rules = TrackingRules(fraud=FraudRules())
    for customer in CUSTOMERS:
        fields = {
            "code": seeded.link.code,
            "txn_id": f"N-{customer}",
            "amount": "10",
            "customer_id": customer,
        }
        await record_conversion(database, seeded.program, fields, now=NOON, rules=rules)
    # Repeats of one rule for one affiliate join its open flag: one flag, seen three times,
    # naming the first sale and holding all three.
    [flag] = [flag for flag in await open_flags(database) if flag.rule == "no-click"]
    assert flag.evidence["txn_id"] == "N-cust-1"
    assert flag.occurrences == 3
    async with database.read() as store:
        held = {conversion_id for conversion_id, _ in await store.fraud.conversions_of(flag.id)}
        sales = [await store.conversions.by_txn(seeded.program.id, f"N-{c}") for c in CUSTOMERS]
    assert held == {sale.id for sale in sales if sale is not None}
    assert len(held) == 3
