"""Postback rules over real HTTP: idempotency, statuses, commission history, bad input."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient

from commands.core.invocation import Services
from storage import Database
from storage.programs import Commission
from tests.conftest import Clock
from tests.tracking_support import EARLY, running, scrape, seed
from tests.web.test_postback_auth import click


def url(**fields: Any) -> str:
    return "/postback?" + urlencode({"token": "s3cret", **fields})


async def post(client: TestClient[Any, Any], **fields: Any) -> tuple[int, dict[str, Any]]:
    response = await client.get(url(**fields))
    return response.status, await response.json()


async def test_repeats_store_one_conversion_and_repeat_the_first_body(
    services: Services, database: Database
) -> None:
    seeded = await seed(database)
    async with running(services) as client:
        click_id = await click(client, seeded)  # still in the click buffer: flushed on demand
        fields = {"click_id": click_id, "txn_id": "A-1", "amount": "40.00"}
        first_status, first = await post(client, **fields)
        again_status, again = await post(client, **fields)
        responses = await asyncio.gather(*(post(client, **fields) for _ in range(8)))
    assert first_status == again_status == 200
    assert "duplicate" not in first
    assert again == {**first, "duplicate": True}
    assert all(status == 200 and body == again for status, body in responses)
    async with database.read() as store:
        assert await store.conversions.count() == 1


async def test_concurrent_first_postbacks_store_one_row(
    services: Services, database: Database
) -> None:
    seeded = await seed(database)
    async with running(services) as client:
        fields = {"code": seeded.link.code, "txn_id": "RACE", "amount": "5"}
        responses = await asyncio.gather(*(post(client, **fields) for _ in range(10)))
    assert {status for status, _ in responses} == {200}
    bodies = [body for _, body in responses]
    assert sum(1 for body in bodies if not body.get("duplicate")) == 1
    ids = {body["conversion_id"] for body in bodies}
    assert len(ids) == 1
    async with database.read() as store:
        assert await store.conversions.count() == 1


async def test_status_machine_and_balance(services: Services, database: Database) -> None:
    seeded = await seed(database)
    code = seeded.link.code
    async with running(services) as client:

        async def status_of(txn: str, status: str) -> tuple[int, dict[str, Any]]:
            return await post(client, code=code, txn_id=txn, amount="100", status=status)

        async def balance() -> dict[str, int]:
            async with database.read() as store:
                return await store.conversions.balances(seeded.affiliate.id)

        assert (await status_of("P", "pending"))[0] == 200
        assert await balance() == {"USD": 0}
        status, body = await status_of("P", "approved")
        assert (status, body["status"], body["previous_status"]) == (200, "approved", "pending")
        assert await balance() == {"USD": 1000}
        status, body = await status_of("P", "paid")
        assert (status, body["status"]) == (200, "paid")
        assert await balance() == {"USD": 0}
        # A late retry of an earlier status is a duplicate that says what is stored now.
        status, body = await status_of("P", "approved")
        assert (status, body["status"], body["duplicate"]) == (200, "paid", True)
        # A clawback of a paid conversion leaves a negative balance, carried forward.
        status, body = await status_of("P", "reversed")
        assert (status, body["status"]) == (200, "reversed")
        assert await balance() == {"USD": -1000}
        # approved → reversed takes the commission back off the balance.
        await status_of("Q", "approved")
        assert await balance() == {"USD": 0}
        await status_of("Q", "reversed")
        assert await balance() == {"USD": -1000}
        # pending → reversed never touched the balance.
        await status_of("R", "pending")
        status, body = await status_of("R", "rejected")
        assert (status, body["status"]) == (200, "reversed")
        assert await balance() == {"USD": -1000}
        # Any other move is refused with a 409 that says why.
        refused, body = await status_of("R", "approved")
        assert refused == 409
        assert body["field"] == "status"
        assert "reversed" in body["error"]
        # A retried earlier status is a duplicate, not a refused transition, and it says
        # what is stored now (issue 16 #7).
        status, body = await status_of("P", "pending")
        assert (status, body["status"], body["duplicate"]) == (200, "reversed", True)
        # An unknown transaction cannot start out paid.
        status, body = await status_of("NEW", "paid")
        assert status == 409
    async with database.read() as store:
        conversion = await store.conversions.by_txn(seeded.program.id, "P")
        assert conversion is not None
        history = [event.status for event in await store.conversions.history(conversion.id)]
    assert history == ["pending", "approved", "paid", "reversed"]


async def test_commission_in_force_at_occurred_at_in_exact_decimal(
    services: Services, database: Database, clock: Clock
) -> None:
    seeded = await seed(database, commission=Commission("percent", 1250, "USD", EARLY))
    change = clock.now - timedelta(days=3)
    async with database.transaction() as store:
        await store.programs.set_commission(
            seeded.program.id, Commission("flat", 500, "USD", change), now=change, actor="t"
        )
    async with running(services) as client:
        before = (change - timedelta(seconds=1)).isoformat()
        status, old = await post(
            client, code=seeded.link.code, txn_id="OLD", amount="19.99", occurred_at=before
        )
        assert status == 200
        _, new = await post(client, code=seeded.link.code, txn_id="NEW", amount="19.99")
        _, epoch = await post(
            client,
            code=seeded.link.code,
            txn_id="EPOCH",
            amount="0.10",
            occurred_at=str(int((change - timedelta(days=1)).timestamp())),
        )
    # 12.5 % of 19.99 is 2.49875: rounded half-even to the cent, never through a float.
    assert old["commission"] == "2.50"
    assert new["commission"] == "5.00"
    assert epoch["commission"] == "0.01"  # 0.0125 → 0.01 (half-even)


async def test_recurring_commission_follows_the_customer(
    services: Services, database: Database, clock: Clock
) -> None:
    seeded = await seed(database, recurring_months=2)
    once = await seed(database, slug="once", destination="https://once.example/")
    async with running(services) as client:
        first = {"code": seeded.link.code, "txn_id": "S1", "amount": "10", "customer_id": "cus_1"}
        assert (await post(client, **first))[0] == 200
        later = clock.now + timedelta(days=40)
        status, renewal = await post(
            client,
            program="shop",
            txn_id="S2",
            amount="10",
            customer_id="cus_1",
            occurred_at=(clock.now - timedelta(days=1)).isoformat(),
        )
        assert (status, renewal["commission"], renewal["commissionable"]) == (200, "1.00", True)
        clock.now = later + timedelta(days=30)
        status, expired = await post(
            client, program="shop", txn_id="S3", amount="10", customer_id="cus_1"
        )
        assert (status, expired["commissionable"]) == (200, False)
        assert "recurring" in expired["note"]
        await post(client, code=once.link.code, txn_id="O1", amount="10", customer_id="cus_2")
        status, repeat = await post(
            client, program="once", txn_id="O2", amount="10", customer_id="cus_2"
        )
        assert (status, repeat["commission"]) == (200, "0.00")
        status, stranger = await post(client, program="shop", txn_id="S4", amount="10")
        assert (status, stranger["field"]) == (400, "click_id")


async def test_aliases_and_program_mappings(services: Services, database: Database) -> None:
    seeded = await seed(
        database,
        postback={
            "fields": {"txn_id": "order_ref"},
            "statuses": {"1": "approved", "2": "reversed"},
        },
    )
    async with running(services) as client:
        click_id = await click(client, seeded)
        status, body = await post(
            client, clickid=click_id, order_ref="X-9", payout="12.00", status="1", type="lead"
        )
        assert (status, body["txn_id"], body["status"], body["kind"]) == (
            200,
            "X-9",
            "approved",
            "lead",
        )
        status, body = await post(client, subid=click_id, order_ref="X-9", status="2")
        assert (status, body["status"]) == (200, "reversed")
        form = await client.post(
            "/postback?token=s3cret",
            data={"ref": seeded.link.code, "transaction_id": "F-1", "sale_amount": "3.30"},
        )
        assert form.status == 200
        assert (await form.json())["amount"] == "3.30"
        as_json = await client.post(
            "/postback?token=s3cret",
            data=json.dumps({"code": seeded.link.code, "order_id": "J-1", "amount": 0.1}),
            headers={"Content-Type": "application/json"},
        )
        assert (await as_json.json())["amount"] == "0.10"


BAD_INPUT = [
    ({"click_id": "0" * 32, "txn_id": "B", "amount": "1"}, 404, "click_id"),
    ({"code": "nocode", "txn_id": "B", "amount": "1"}, 404, "code"),
    ({"program": "nope", "txn_id": "B", "amount": "1"}, 404, "program"),
    ({"txn_id": "B", "amount": "1"}, 400, "click_id"),
    ({"CODE": True, "amount": "1"}, 400, "txn_id"),
    ({"CODE": True, "txn_id": "B", "amount": "-1"}, 400, "amount"),
    ({"CODE": True, "txn_id": "B", "amount": "ten"}, 400, "amount"),
    ({"CODE": True, "txn_id": "B", "amount": "NaN"}, 400, "amount"),
    ({"CODE": True, "txn_id": "B", "amount": "1.001"}, 400, "amount"),
    ({"CODE": True, "txn_id": "B"}, 400, "amount"),
    ({"CODE": True, "txn_id": "B", "amount": "1", "currency": "XYZ"}, 400, "currency"),
    ({"CODE": True, "txn_id": "B", "amount": "1", "currency": "EUR"}, 422, "currency"),
    ({"CODE": True, "txn_id": "B", "amount": "1", "status": "maybe"}, 400, "status"),
    ({"CODE": True, "txn_id": "B", "amount": "1", "kind": "gift"}, 400, "kind"),
    ({"CODE": True, "txn_id": "B", "amount": "1", "occurred_at": "soon"}, 400, "occurred_at"),
    (
        {"CODE": True, "txn_id": "B", "amount": "1", "occurred_at": "2099-01-01"},
        400,
        "occurred_at",
    ),
    ({"CODE": True, "txn_id": "x" * 129, "amount": "1"}, 400, "txn_id"),
    ({"click_id": "<script>", "txn_id": "B", "amount": "1"}, 404, "click_id"),
]


@pytest.mark.parametrize(("fields", "status", "field"), BAD_INPUT)
async def test_bad_input_names_the_field_and_writes_nothing(
    services: Services, database: Database, fields: dict[str, Any], status: int, field: str
) -> None:
    seeded = await seed(database)
    fields = dict(fields)  # the parameter is shared between engines
    if fields.pop("CODE", None):
        fields["code"] = seeded.link.code
    async with running(services) as client:
        response = await client.get(url(**fields))
        assert response.status == status, await response.text()
        body = await response.json()
    assert body["ok"] is False
    assert body["field"] == field
    async with database.read() as store:
        assert await store.conversions.count() == 0


async def test_bad_bodies_are_refused(services: Services, database: Database) -> None:
    seeded = await seed(database)
    async with running(services) as client:
        huge = await client.post(
            "/postback?token=s3cret",
            data=json.dumps({"code": seeded.link.code, "pad": "x" * 70_000}),
            headers={"Content-Type": "application/json"},
        )
        assert huge.status == 413
        assert (await huge.json())["field"] == "body"
        broken = await client.post(
            f"/postback?token=s3cret&code={seeded.link.code}",
            data=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        assert (broken.status, (await broken.json())["field"]) == (400, "body")
        listed = await client.post(
            f"/postback?token=s3cret&code={seeded.link.code}",
            data=b"[1, 2]",
            headers={"Content-Type": "application/json"},
        )
        assert listed.status == 400
        odd = await client.post(
            f"/postback?token=s3cret&code={seeded.link.code}",
            data=b"<xml/>",
            headers={"Content-Type": "application/xml"},
        )
        assert (odd.status, (await odd.json())["field"]) == (415, "body")
        scraped = await scrape(client)
    assert scraped.value("affbot_postbacks_total", result="rejected_413") == 1
    async with database.read() as store:
        assert await store.conversions.count() == 0


async def test_expired_click_and_click_of_another_program(
    services: Services, database: Database, clock: Clock
) -> None:
    seeded = await seed(database)
    other = await seed(database, slug="other", destination="https://other.example/")
    async with running(services) as client:
        old_click = await click(client, seeded)
        clock.advance(days=31)
        status, body = await post(client, click_id=old_click, txn_id="E", amount="1")
        assert (status, body["field"]) == (422, "click_id")
        assert "30-day" in body["error"]
        fresh = await click(client, seeded)
        status, body = await post(client, program="other", click_id=fresh, txn_id="E", amount="1")
        assert (status, body["field"]) == (422, "click_id")
    assert other.program.slug == "other"
