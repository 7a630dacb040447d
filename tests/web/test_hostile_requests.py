"""The exact bytes of issue 17's reports, on a real socket, on SQLite and PostgreSQL.

Each request here once made a 500, poisoned a click batch or froze the server. Now every
one is a 4xx naming the field (or, for headers we only record, a click that is written),
and the clicks after it are still written.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from bot.config import TrackingConfig
from bot.web.state import TRACKING
from commands.core.invocation import Services
from commands.tracking.ip_hashes import check_token
from storage import Database
from tests.conftest import Clock
from tests.raw_http import RawAnswer, get_raw, request_bytes, send_raw
from tests.tracking_support import FAST, Seeded, TrackingClient, running, seed

FORWARDED = TrackingConfig(**{**FAST.model_dump(), "trust_forwarded_for": True})
BROWSER = b"Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36"


async def stored_clicks(database: Database) -> int:
    async with database.read() as store:
        return await store.clicks.count()


async def written_after(client: TrackingClient, seeded: Seeded, database: Database) -> int:
    """One ordinary click more, then a flush: how many clicks the database holds."""
    plain = await get_raw(client, f"/r/{seeded.link.code}".encode(), {b"User-Agent": BROWSER})
    assert plain.status == 302
    await client.app[TRACKING].buffer.flush()
    return await stored_clicks(database)


HOSTILE_HEADERS = [
    pytest.param({b"Referer": b"http://\xff\xfe.example/page"}, id="referer-host-not-utf8"),
    pytest.param({b"Referer": b"http://\xed\xa0\x80.example/"}, id="referer-utf8-surrogate"),
    pytest.param({b"Referer": b"http://sh%00op.example/"}, id="referer-escaped-nul"),
    pytest.param({b"Referer": b"http://" + b"a" * 4000 + b".example/"}, id="referer-long-host"),
    pytest.param({b"X-Forwarded-For": b"\xff\xfe, 10.0.0.1"}, id="forwarded-not-utf8"),
    pytest.param({b"X-Forwarded-For": b"9" * 300 + b"\xc0"}, id="forwarded-long"),
    pytest.param({b"User-Agent": BROWSER + b" \xff\xfe\xfd"}, id="user-agent-not-utf8"),
]


@pytest.mark.parametrize("headers", HOSTILE_HEADERS)
async def test_a_hostile_header_still_records_its_click_and_blocks_none(
    services: Services, database: Database, headers: dict[bytes, bytes]
) -> None:
    seeded = await seed(database)
    sent = {b"User-Agent": BROWSER, **headers}
    async with running(services, FORWARDED) as client:
        answer = await get_raw(client, f"/r/{seeded.link.code}".encode(), sent)
        assert answer.status == 302, answer.body
        await client.app[TRACKING].buffer.flush()
        assert await stored_clicks(database) == 1  # the hostile one itself is written
        assert await written_after(client, seeded, database) == 2


@pytest.mark.parametrize("headers", HOSTILE_HEADERS)
async def test_the_check_page_answers_a_hostile_header_without_a_500(
    services: Services, database: Database, clock: Clock, headers: dict[bytes, bytes]
) -> None:
    seeded = await seed(database)
    async with running(services, FORWARDED) as client:
        salt = client.app[TRACKING].salt
        code = seeded.link.code
        path = f"/r/{code}/check?t={check_token(salt, code)}".encode()
        answer = await get_raw(client, path, {b"User-Agent": BROWSER, **headers})
        wrong = await get_raw(client, f"/r/{code}/check?t=%FF%00".encode(), headers)
    assert answer.status == 200, answer.body
    assert b"Your link" in answer.body
    assert wrong.status == 404


@pytest.mark.parametrize(
    "target",
    [b"/r/%00", b"/r/ab%00cd", b"/r/%FF%FE", b"/r/\xff\xfe", b"/r/%00/check?t=x", b"/r/%ED%A0%80"],
)
async def test_codes_that_cannot_exist_are_404_before_any_lookup(
    services: Services, database: Database, target: bytes
) -> None:
    seeded = await seed(database)
    async with running(services) as client:
        answer = await get_raw(client, target, {b"User-Agent": BROWSER})
        assert 400 <= answer.status < 500, answer.body
        assert await written_after(client, seeded, database) == 1


def postback_answer(answer: RawAnswer) -> dict[str, Any]:
    assert 400 <= answer.status < 500, (answer.status, answer.body)
    body = json.loads(answer.body)
    assert isinstance(body, dict)
    return body


def _json_post(body: bytes, headers: dict[bytes, bytes] | None = None) -> bytes:
    return request_bytes(
        "POST",
        b"/postback?token=s3cret",
        {b"Content-Type": b"application/json", **(headers or {})},
        body,
    )


@pytest.mark.parametrize(
    ("request_data", "field"),
    [
        pytest.param(_json_post(b"[" * 30_000 + b"]" * 30_000), "body", id="deep-json-array"),
        pytest.param(_json_post(b'{"a":' * 30_000 + b"1" + b"}" * 30_000), "body", id="deep-obj"),
        pytest.param(_json_post(b'{"program": "\\ud800"}'), "program", id="surrogate-program"),
        pytest.param(_json_post(b'{"code": "\\udfff"}'), "code", id="surrogate-code"),
        pytest.param(_json_post(b'{"click_id": "a\\ud800"}'), "click_id", id="surrogate-click"),
        pytest.param(
            _json_post(b'{"program": "shop", "txn_id": "\\ud800", "amount": "1"}'),
            "txn_id",
            id="surrogate-txn",
        ),
        pytest.param(
            request_bytes("GET", b"/postback?program=sh%00op&token=s3cret"),
            "program",
            id="nul-program",
        ),
        pytest.param(
            request_bytes("GET", b"/postback?click_id=ab%00c&token=s3cret"),
            "click_id",
            id="nul-click-id",
        ),
        pytest.param(
            request_bytes("GET", b"/postback?code=AB%00C&token=s3cret"), "code", id="nul-code"
        ),
        pytest.param(
            request_bytes(
                "GET",
                b"/postback?program=shop&token=s3cret&txn_id=T1&occurred_at=0001-01-01T00:00:00%2B01:00",
            ),
            "occurred_at",
            id="year-one",
        ),
        pytest.param(
            request_bytes(
                "GET",
                b"/postback?program=shop&token=s3cret&txn_id=T1&occurred_at=9999-12-31T23:59:59-01:00",
            ),
            "occurred_at",
            id="year-9999-west",
        ),
        pytest.param(
            request_bytes("GET", b"/postback?program=shop&token=s3cret&txn_id=T1&amount=1e999999"),
            "amount",
            id="amount-overflow",
        ),
        pytest.param(
            request_bytes("GET", b"/postback?program=shop&token=%FF%00&txn_id=T1"),
            "token",
            id="token-nul",
        ),
        pytest.param(
            request_bytes(
                "POST",
                b"/postback?program=shop",
                {b"Content-Type": b"application/x-www-form-urlencoded"},
                b"token=s3cret&txn_id=T%00",
            ),
            "txn_id",
            id="form-nul-txn",
        ),
    ],
)
async def test_postbacks_that_were_500s_are_4xx_naming_the_field(
    services: Services, database: Database, request_data: bytes, field: str
) -> None:
    seeded = await seed(database)
    async with running(services) as client:
        body = postback_answer(await send_raw(client, request_data))
        assert body["field"] == field, body
        assert await written_after(client, seeded, database) == 1
    async with database.read() as store:
        assert await store.conversions.count() == 0


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        pytest.param({b"X-Signature": b"\xff\xfe" + b"0" * 62}, "x-signature", id="sig-not-utf8"),
        pytest.param({b"X-Signature": b"sha256=\xc0\xaf"}, "x-signature", id="sig-overlong"),
    ],
)
async def test_hmac_headers_that_are_not_text_are_401(
    services: Services, database: Database, headers: dict[bytes, bytes], field: str
) -> None:
    await seed(database, postback={"auth": "hmac", "secret": "whsec"})
    body = b'{"program": "shop", "txn_id": "T1", "amount": "10.00"}'
    async with running(services) as client:
        answer = await send_raw(
            client,
            request_bytes(
                "POST", b"/postback", {b"Content-Type": b"application/json", **headers}, body
            ),
        )
    assert answer.status == 401
    assert json.loads(answer.body)["field"] == field


def _webhook(secret: bytes, message_id: bytes, timestamp: bytes, body: bytes) -> bytes:
    signed = message_id + b"." + timestamp + b"." + body
    return b"v1," + base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest())


@pytest.mark.parametrize(
    ("timestamp", "signature", "field"),
    [
        pytest.param("²".encode(), None, "webhook-timestamp", id="superscript-two"),
        pytest.param(b"9" * 400, None, "webhook-timestamp", id="400-digits"),
        pytest.param(None, b"v1,\xff\xfe\xff", "webhook-signature", id="signature-not-utf8"),
        pytest.param(b"\xff", None, "webhook-timestamp", id="timestamp-not-utf8"),
    ],
)
async def test_standard_webhooks_headers_that_are_not_text_are_401(
    services: Services,
    database: Database,
    clock: Clock,
    timestamp: bytes | None,
    signature: bytes | None,
    field: str,
) -> None:
    secret = base64.b64encode(b"k" * 24)
    await seed(
        database, postback={"auth": "standard-webhooks", "secret": "whsec_" + secret.decode()}
    )
    body = b'{"program": "shop", "txn_id": "T1", "amount": "10.00"}'
    now = str(int(clock().timestamp())).encode()
    headers = {
        b"Content-Type": b"application/json",
        b"webhook-id": b"msg_1",
        b"webhook-timestamp": timestamp or now,
        b"webhook-signature": signature or _webhook(base64.b64decode(secret), b"msg_1", now, body),
    }
    async with running(services) as client:
        answer = await send_raw(client, request_bytes("POST", b"/postback", headers, body))
    assert answer.status == 401, answer.body
    assert json.loads(answer.body)["field"] == field


async def test_a_huge_exponent_is_refused_at_once_and_health_stays_quick(
    services: Services, database: Database
) -> None:
    seeded = await seed(database)
    freezing = request_bytes(
        "GET", b"/postback?program=shop&token=s3cret&txn_id=T1&amount=1e999990"
    )
    async with running(services) as client:
        started = time.monotonic()
        refused, health = await asyncio.gather(
            send_raw(client, freezing), get_raw(client, b"/healthz")
        )
        both = time.monotonic() - started
        assert await written_after(client, seeded, database) == 1
    assert postback_answer(refused)["field"] == "amount"
    assert b"too large" in refused.body
    assert health.status == 200
    assert health.seconds < 1.0
    assert both < 1.0


async def test_the_token_may_come_in_a_form_or_json_body(
    services: Services, database: Database
) -> None:
    code = (await seed(database)).link.code
    async with running(services) as client:
        form = await client.post(
            "/postback",
            data={"token": "s3cret", "code": code, "txn_id": "F-1", "amount": "10.00"},
        )
        as_json = await client.post(
            "/postback",
            json={"token": "s3cret", "code": code, "txn_id": "J-1", "amount": "10.00"},
        )
        wrong = await client.post(
            "/postback", json={"token": "nope", "program": "shop", "txn_id": "J-2"}
        )
        missing = await client.post("/postback", json={"program": "shop", "txn_id": "J-3"})
        answers = [(r.status, await r.json()) for r in (form, as_json, wrong, missing)]
    assert [status for status, _ in answers] == [200, 200, 401, 401], answers
    assert answers[2][1]["error"] == "token is wrong"
    assert answers[3][1]["error"] == "token is required"
    async with database.read() as store:
        assert await store.conversions.count() == 2
