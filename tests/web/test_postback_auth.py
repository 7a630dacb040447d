"""Postback authentication over real HTTP: query token, body HMAC, Standard Webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp.test_utils import TestClient

from commands.core.invocation import Services
from storage import Database
from tests.conftest import Clock
from tests.tracking_support import Seeded, running, seed

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
OLD_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"fedcba9876543210fedcba9876543210").decode()


async def click(client: TestClient[Any, Any], seeded: Seeded) -> str:
    response = await client.get(f"/r/{seeded.link.code}", allow_redirects=False)
    return parse_qs(urlsplit(response.headers["Location"]).query)["click_id"][0]


async def stored(database: Database) -> int:
    async with database.read() as store:
        return await store.conversions.count()


async def test_token_in_the_query(services: Services, database: Database) -> None:
    seeded = await seed(database)
    async with running(services) as client:
        click_id = await click(client, seeded)
        base = f"/postback?click_id={click_id}&txn_id=T1&amount=10.00"
        missing = await client.get(base)
        assert missing.status == 401
        assert (await missing.json())["field"] == "token"
        wrong = await client.get(base + "&token=s3cre")
        assert wrong.status == 401
        assert await stored(database) == 0
        right = await client.get(base + "&token=s3cret")
        assert right.status == 200
        body = await right.json()
    assert body["ok"] is True
    assert body["commission"] == "1.00"
    assert await stored(database) == 1


async def test_program_without_a_secret_refuses_postbacks(
    services: Services, database: Database
) -> None:
    seeded = await seed(database, postback={"secret": ""})
    async with running(services) as client:
        response = await client.get(f"/postback?code={seeded.link.code}&txn_id=T&amount=1")
        assert response.status == 401
        assert "/program postback" in (await response.json())["error"]


async def test_hmac_of_the_raw_body_in_a_configurable_header(
    services: Services, database: Database
) -> None:
    seeded = await seed(database, postback={"auth": "hmac", "header": "X-Dub-Signature"})
    async with running(services) as client:
        payload = json.dumps(
            {"code": seeded.link.code, "transaction_id": "H1", "sale_amount": 25.5}
        ).encode()
        signature = hmac.new(b"s3cret", payload, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json"}
        unsigned = await client.post("/postback", data=payload, headers=headers)
        assert unsigned.status == 401
        assert (await unsigned.json())["field"] == "x-dub-signature"
        tampered = await client.post(
            "/postback",
            data=payload.replace(b"25.5", b"99.5"),
            headers={**headers, "X-Dub-Signature": signature},
        )
        assert tampered.status == 401
        assert await stored(database) == 0
        good = await client.post(
            "/postback", data=payload, headers={**headers, "X-Dub-Signature": signature}
        )
        assert good.status == 200, await good.text()
        assert (await good.json())["amount"] == "25.50"
        # With a body signature, unsigned query fields are ignored: only the body counts.
        sneaky = await client.post(
            f"/postback?code={seeded.link.code}&txn_id=H2&amount=1",
            data=b"{}",
            headers={
                **headers,
                "X-Dub-Signature": hmac.new(b"s3cret", b"{}", "sha256").hexdigest(),
            },
        )
        assert sneaky.status == 400
        assert (await sneaky.json())["field"] == "txn_id"
    assert await stored(database) == 1


def webhook_headers(
    secret: str, message_id: str, timestamp: int, payload: bytes, *extra: str
) -> dict[str, str]:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + payload
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join([*extra, f"v1,{signature}"]),
    }


async def test_standard_webhooks_with_rotation_and_tolerance(
    services: Services, database: Database, clock: Clock
) -> None:
    seeded = await seed(
        database,
        postback={
            "auth": "standard-webhooks",
            "secret": WEBHOOK_SECRET,
            "previous_secret": OLD_WEBHOOK_SECRET,
        },
    )
    now = int(clock.now.timestamp())
    payload = json.dumps(
        {"type": "sale.created", "data": {"code": seeded.link.code, "txn_id": "W1", "amount": 9}}
    ).encode()
    async with running(services) as client:
        missing = await client.post(
            "/postback", data=payload, headers={"Content-Type": "application/json"}
        )
        assert missing.status == 401
        assert (await missing.json())["field"] == "webhook-id"
        stale = await client.post(
            "/postback",
            data=payload,
            headers=webhook_headers(WEBHOOK_SECRET, "msg_1", now - 301, payload),
        )
        assert stale.status == 401
        assert (await stale.json())["field"] == "webhook-timestamp"
        forged = await client.post(
            "/postback",
            data=payload,
            headers=webhook_headers(
                "whsec_" + base64.b64encode(b"x" * 32).decode(), "msg_1", now, payload
            ),
        )
        assert forged.status == 401
        assert (await forged.json())["field"] == "webhook-signature"
        # During a rotation the sender signs with several secrets; one match is enough.
        rotated = await client.post(
            "/postback",
            data=payload,
            headers=webhook_headers(WEBHOOK_SECRET, "msg_1", now - 200, payload, "v1,bm9wZQ=="),
        )
        assert rotated.status == 200, await rotated.text()
        # Our own previous secret still works while the program keeps it.
        clock.advance(minutes=1)
        second = json.dumps({"data": {"code": seeded.link.code, "txn_id": "W2"}}).encode()
        previous = await client.post(
            "/postback",
            data=second,
            headers=webhook_headers(
                OLD_WEBHOOK_SECRET, "msg_2", int(clock.now.timestamp()), second
            ),
        )
        assert previous.status == 400  # authenticated; the sale simply lacks its amount
        assert (await previous.json())["field"] == "amount"
    assert await stored(database) == 1
