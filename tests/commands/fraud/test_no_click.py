"""The no-click rule applies whether or not the network sends a customer_id (issue 16 #6)."""

from __future__ import annotations

from commands.fraud import FraudRules
from commands.tracking.conversions import TrackingRules, record_conversion
from storage import Database
from tests.commands.fraud.test_rules import NOON, open_flags
from tests.tracking_support import seed


async def test_a_code_without_a_click_is_flagged_even_with_a_customer_id(
    database: Database,
) -> None:
    seeded = await seed(database)
    rules = TrackingRules(fraud=FraudRules())
    for customer in ("cust-1", "telegram:42", "x"):
        fields = {
            "code": seeded.link.code,
            "txn_id": f"N-{customer}",
            "amount": "10",
            "customer_id": customer,
        }
        await record_conversion(database, seeded.program, fields, now=NOON, rules=rules)
    flags = [flag for flag in await open_flags(database) if flag.rule == "no-click"]
    assert sorted(flag.evidence["txn_id"] for flag in flags) == [
        "N-cust-1",
        "N-telegram:42",
        "N-x",
    ]
