"""Fuzzing the tracking server with raw HTTP bytes on a real socket (issue 17).

The properties in ``test_hostile_inputs`` go through aiohttp's client, which only sends
well-formed requests; these write arbitrary bytes (paths, query strings, header values,
bodies, for every postback auth scheme) to the real server and hold it to:

- no 5xx, and an answer within a second (a slow one is sent again: only an input that is
  slow twice fails, so a pause of a loaded machine is not taken for a slow input);
- the server alive afterwards (``/healthz``) and clicks still written (a plain click
  after the hostile ones reaches the database);
- nothing half-written (every stored conversion has its first status event).

``AFFBOT_FUZZ_EXAMPLES`` sets the examples per class (60 by default, a few seconds each);
docs/RELIABILITY.md gives the larger run's command and counts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.importer import import_conversions
from bot.web.rate_limit import LIMITS, RateLimiter
from bot.web.state import TRACKING
from commands.tracking.conversions import TrackingRules
from commands.tracking.ip_hashes import check_token
from tests.raw_http import RawAnswer, request_bytes, send_raw
from tests.test_hostile_inputs import _now, _World
from tests.tracking_support import seed

EXAMPLES = int(os.environ.get("AFFBOT_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LIMIT_SECONDS = 1.0
HOOK_KEY = b"k" * 24
HOOK_SECRET = "whsec_" + base64.b64encode(HOOK_KEY).decode()

# Bytes that broke something once, mixed into arbitrary ones: invalid UTF-8, NUL,
# escapes that decode to them, huge numbers, far dates, deep nesting.
NASTY_BYTES = st.binary(max_size=120) | st.sampled_from(
    [
        b"\xff\xfe",
        b"\x00",
        b"%00",
        b"%FF%FE",
        b"%ED%A0%80",
        b"\xed\xa0\x80",
        b"\\ud800",
        "²".encode(),
        b"9" * 400,
        b"1e999990",
        b"1e999999",
        b"-1e-999999",
        b"0001-01-01T00:00:00+01:00",
        b"9999-12-31T23:59:59-01:00",
        b"[" * 2000,
        b"sha256=",
        b"v1,\xff",
        b"s3cret",
    ]
)
FIELDS = st.sampled_from(
    (
        *(b"token", b"program", b"code", b"click_id", b"txn_id", b"amount", b"currency"),
        *(b"status", b"occurred_at", b"kind", b"customer_id", b"customer_ip", b"x"),
    )
)
HEADER_NAMES = st.sampled_from(
    (
        *(b"Referer", b"User-Agent", b"X-Forwarded-For", b"X-Signature", b"Cookie"),
        *(b"webhook-id", b"webhook-timestamp", b"webhook-signature", b"Content-Type"),
    )
)
# A header value cannot hold CR or LF without ending the header; those are tried too,
# but rarely, so most examples reach the handlers instead of the parser's 400.
HEADER_VALUES = NASTY_BYTES.map(lambda value: value.replace(b"\r", b"").replace(b"\n", b"")) | (
    st.binary(max_size=40)
)
HEADERS = st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=4)


class _Fuzzed(_World):
    """The shared world plus a program per postback auth scheme and a ledger of answers."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.runner.run(seed(self.database, slug="signed", postback=_hmac_settings()))
        self.runner.run(
            seed(
                self.database,
                slug="hooks",
                postback={"auth": "standard-webhooks", "secret": HOOK_SECRET},
            )
        )
        # No rate limit: every example must reach the handlers, not a 429.
        limits = self.client.app[LIMITS]
        limits.redirects = RateLimiter(per_minute=0, burst=1)
        limits.postbacks = RateLimiter(per_minute=0, burst=1)
        self.tried = 0

    def send(self, data: bytes) -> RawAnswer:
        answer = self.runner.run(send_raw(self.client, data))
        self.tried += 1
        assert 100 <= answer.status < 500, (answer.status, data[:300], answer.body[:300])
        assert b"Traceback" not in answer.body
        if answer.seconds >= LIMIT_SECONDS:
            # An input that makes the server slow is slow again; a machine shared by
            # several test runs sometimes pauses any process for a second. So a slow
            # answer is asked once more, and only a second slow one fails.
            again = self.runner.run(send_raw(self.client, data))
            assert again.seconds < LIMIT_SECONDS, (answer.seconds, again.seconds, data[:300])
        return answer

    def still_serving(self) -> None:
        """Healthy, and a plain click after all the hostile ones is written."""

        async def check() -> tuple[int, int, int]:
            before = await self._clicks()
            health = await send_raw(self.client, request_bytes("GET", b"/healthz"))
            code = self.seeded.link.code.encode()
            browser = {b"User-Agent": b"Mozilla/5.0 Chrome/120.0 Safari/537.36"}
            click = await send_raw(self.client, request_bytes("GET", b"/r/" + code, browser))
            await self.client.app[TRACKING].buffer.flush()
            assert click.status == 302
            return health.status, before, await self._clicks()

        status, before, after = self.runner.run(check())
        assert status == 200
        assert after >= before + 1
        self.consistent()

    async def _clicks(self) -> int:
        await self.client.app[TRACKING].buffer.flush()
        async with self.database.read() as store:
            return await store.clicks.count()


def _hmac_settings() -> dict[str, Any]:
    return {"auth": "hmac", "secret": "hm4c", "header": "X-Signature"}


@pytest.fixture
def fuzzed(tmp_path: Path) -> Iterator[_Fuzzed]:
    made = _Fuzzed(tmp_path)
    try:
        yield made
        made.still_serving()
    finally:
        made.close()


def _escaped(raw: bytes) -> bytes:
    """Bytes as a request target allows them: most percent-escaped, some left raw."""
    return b"".join(
        bytes([byte]) if 0x21 <= byte <= 0x7E and byte not in b"#?" else b"%%%02X" % byte
        for byte in raw
    )


@FUZZ
@given(
    code=NASTY_BYTES, headers=HEADERS, raw=st.booleans(), method=st.sampled_from(["GET", "HEAD"])
)
def test_redirects_survive_any_path_and_headers(
    fuzzed: _Fuzzed, code: bytes, headers: dict[bytes, bytes], raw: bool, method: str
) -> None:
    plain = code.replace(b" ", b"").replace(b"\r", b"").replace(b"\n", b"")
    target = b"/r/" + (plain if raw else _escaped(code))
    fuzzed.send(request_bytes(method, target or b"/r/x", headers))
    # The real link with the same headers: a counted click whatever they hold.
    real = b"/r/" + fuzzed.seeded.link.code.encode()
    fuzzed.send(request_bytes("GET", real, headers))


@FUZZ
@given(token=NASTY_BYTES, headers=HEADERS, signed=st.booleans())
def test_the_check_page_survives_any_token_and_headers(
    fuzzed: _Fuzzed, token: bytes, headers: dict[bytes, bytes], signed: bool
) -> None:
    code = fuzzed.seeded.link.code
    if signed:
        token = check_token(fuzzed.client.app[TRACKING].salt, code).encode()
    target = f"/r/{code}/check?t=".encode() + _escaped(token)
    answer = fuzzed.send(request_bytes("GET", target, headers))
    if signed:  # the page, or aiohttp's own 400 for a header it cannot parse
        assert answer.status in {200, 400}


@FUZZ
@given(
    fields=st.dictionaries(FIELDS, NASTY_BYTES, max_size=7),
    headers=HEADERS,
    how=st.sampled_from(["query", "form", "json", "raw"]),
    program=st.sampled_from([b"shop", b"signed", b"hooks"]),
    raw=st.binary(max_size=400),
)
def test_postbacks_survive_any_bytes_for_every_auth_scheme(
    fuzzed: _Fuzzed,
    fields: dict[bytes, bytes],
    headers: dict[bytes, bytes],
    how: str,
    program: bytes,
    raw: bytes,
) -> None:
    fields.setdefault(b"program", program)
    query = b"&".join(_escaped(k) + b"=" + _escaped(v) for k, v in fields.items())
    if how == "query":
        fuzzed.send(request_bytes("GET", b"/postback?" + query, headers))
        return
    if how == "form":
        body, kind = query, b"application/x-www-form-urlencoded"
    elif how == "json":
        document = {
            k.decode("latin-1"): v.decode("utf-8", "surrogatepass") if _utf8ish(v) else v.hex()
            for k, v in fields.items()
        }
        body, kind = json.dumps(document).encode(), b"application/json"
    else:
        body, kind = raw, headers.get(b"Content-Type", b"application/json")
    sent = {**headers, b"Content-Type": kind, **_signatures(program, body, headers)}
    fuzzed.send(request_bytes("POST", b"/postback?program=" + program, sent, body))


def _utf8ish(value: bytes) -> bool:
    try:
        value.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return False
    return True


def _signatures(program: bytes, body: bytes, headers: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """Valid signatures half the time, so fuzzed fields reach validation behind each
    scheme; the fuzzed headers win otherwise."""
    if len(body) % 2:
        return {}
    if program == b"signed":
        return {b"X-Signature": hmac.new(b"hm4c", body, hashlib.sha256).hexdigest().encode()}
    if program == b"hooks":
        stamp = str(int(time.time())).encode()
        signed = b"msg." + stamp + b"." + body
        digest = base64.b64encode(hmac.new(HOOK_KEY, signed, hashlib.sha256).digest())
        return {
            b"webhook-id": b"msg",
            b"webhook-timestamp": headers.get(b"webhook-timestamp", stamp),
            b"webhook-signature": b"v1," + digest,
        }
    return {}


CSV_LINES = st.lists(
    st.lists(NASTY_BYTES | st.sampled_from([b"10.00", b"approved", b"CODE"]), max_size=5),
    max_size=5,
)


@FUZZ
@given(
    header=st.lists(FIELDS, min_size=1, max_size=5),
    lines=CSV_LINES,
    delimiter=st.sampled_from([b",", b";", b"\t"]),
    junk=st.binary(max_size=60),
)
def test_the_importer_survives_any_bytes(
    fuzzed: _Fuzzed,
    tmp_path: Path,
    header: list[bytes],
    lines: list[list[bytes]],
    delimiter: bytes,
    junk: bytes,
) -> None:
    code = fuzzed.seeded.link.code.encode()
    content = delimiter.join(header) + b"\n"
    for line in lines:
        content += delimiter.join(code if cell == b"CODE" else cell for cell in line) + b"\n"
    path = tmp_path / "fuzz.csv"
    path.write_bytes(content + junk)
    started = time.monotonic()
    summary = fuzzed.runner.run(
        import_conversions(fuzzed.database, path, program=None, rules=TrackingRules(), clock=_now)
    )
    fuzzed.tried += 1
    assert time.monotonic() - started < LIMIT_SECONDS * (summary.rows + 1)
    assert not any("internal error" in reason for _, reason in summary.rejected)
    fuzzed.consistent()


def test_a_fresh_world_serves_before_any_fuzzing(tmp_path: Path) -> None:
    """The harness itself: a database, three programs, a click written."""
    world = _Fuzzed(tmp_path)
    try:
        world.still_serving()
    finally:
        world.close()
