"""A repeated status is answered with what is stored, and a reversal is final (issue 16 #7)."""

from __future__ import annotations

from typing import Any

from commands.core.invocation import Services
from storage import Database
from tests.tracking_support import running, seed
from tests.web.test_postback_rules import post


async def test_approved_again_after_a_reversal_reports_the_reversal(
    services: Services, database: Database
) -> None:
    seeded = await seed(database)
    code = seeded.link.code
    async with running(services) as client:

        async def status(value: str) -> tuple[int, dict[str, Any]]:
            return await post(client, code=code, txn_id="T-1", amount="50", status=value)

        _, approved = await status("approved")
        _, reversed_ = await status("reversed")
        again_status, again = await status("approved")
        pending_status, pending = await status("pending")
        _, reversed_again = await status("reversed")
    assert (approved["status"], reversed_["status"]) == ("approved", "reversed")
    assert again_status == 200  # a network retry: 2xx, never a retry storm
    assert again["status"] == "reversed"
    assert again["duplicate"] is True
    assert again["note"] == (
        "transaction T-1 was approved before and is reversed now; this approved is not "
        "applied again"
    )
    assert (pending_status, pending["field"]) == (409, "status")  # never re-opened either
    assert reversed_again == {**reversed_, "duplicate": True}
    async with database.read() as store:
        stored = await store.conversions.by_txn(seeded.program.id, "T-1")
        balance = await store.conversions.balances(seeded.affiliate.id)
    assert stored is not None
    assert stored.status == "reversed"
    assert balance == {"USD": 0}


async def test_a_late_retry_of_approved_after_payment_says_paid(
    services: Services, database: Database
) -> None:
    seeded = await seed(database)
    async with running(services) as client:
        fields = {"code": seeded.link.code, "txn_id": "P-1", "amount": "50"}
        await post(client, **fields, status="approved")
        await post(client, **fields, status="paid")
        _, late = await post(client, **fields, status="approved")
    assert (late["status"], late["duplicate"]) == ("paid", True)
