"""Web hardening over real HTTP: per-address rate limits, no open redirect, size limits."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from bot.config import TrackingConfig
from bot.web.rate_limit import RateLimiter
from commands.core.invocation import Services
from storage import Database
from tests.tracking_support import running, scrape, seed

LIMITED = TrackingConfig(
    click_batch_size=1000,
    click_flush_seconds=60,
    link_cache_seconds=0,
    redirects_per_minute=60,
    redirect_burst=3,
    postbacks_per_minute=60,
    postback_burst=2,
)


def test_a_bucket_refills_at_its_rate_and_zero_means_no_limit() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    assert [limiter.check("a") for _ in range(2)] == [0.0, 0.0]
    assert limiter.check("a") == pytest.approx(1.0)
    assert limiter.check("b") == 0.0  # every address has its own bucket
    now[0] += 1.0
    assert limiter.check("a") == 0.0
    unlimited = RateLimiter(per_minute=0, burst=1)
    assert all(unlimited.check("a") == 0.0 for _ in range(1000))


async def test_redirects_and_postbacks_answer_429_past_the_ceiling(
    services: Services, database: Database
) -> None:
    seeded = await seed(database)
    async with running(services, LIMITED) as client:
        codes = [
            (await client.get(f"/r/{seeded.link.code}", allow_redirects=False)).status
            for _ in range(4)
        ]
        limited = await client.get(f"/r/{seeded.link.code}", allow_redirects=False)
        posts = [(await client.get("/postback?token=x")).status for _ in range(3)]
        refused = await client.get("/postback?token=x")
        body = await refused.json()
        health = await client.get("/healthz")  # other routes are never limited
        scraped = await scrape(client)
    assert codes == [302, 302, 302, 429]
    assert limited.status == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert 429 not in posts[:2]
    assert posts[2] == 429
    assert refused.status == 429
    assert body["field"] == "rate"
    assert health.status == 200
    assert scraped.value("affbot_rate_limited_total") == 4


CRAFTED = [
    "//evil.example",
    "%2F%2Fevil.example",
    "https:%2F%2Fevil.example",
    "..%2F..%2Fevil",
    "%5C%5Cevil.example",
    "x%0d%0aLocation:%20https://evil.example",
]


@pytest.mark.parametrize("code", CRAFTED)
async def test_crafted_codes_never_redirect_anywhere(
    services: Services, database: Database, code: str
) -> None:
    await seed(database)
    async with running(services) as client:
        response = await client.get(f"/r/{code}", allow_redirects=False)
    assert response.status in {404, 400}
    assert "Location" not in response.headers


@pytest.mark.parametrize(
    "query",
    [
        "next=https://evil.example",
        "url=//evil.example&redirect=https%3A%2F%2Fevil.example",
        "click_id=x&ref=%0d%0aSet-Cookie:a=b",
        quote("@evil.example", safe="=") + "=1",
    ],
)
async def test_query_strings_never_change_the_destination_host(
    services: Services, database: Database, query: str
) -> None:
    seeded = await seed(database)
    async with running(services) as client:
        response = await client.get(f"/r/{seeded.link.code}?{query}", allow_redirects=False)
    assert response.status == 302
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.hostname) == ("https", "shop.example")
    assert "evil" not in response.headers["Location"]
    assert "\r" not in response.headers["Location"]
    assert "Set-Cookie" not in response.headers


async def test_oversized_postback_bodies_are_refused_with_413(
    services: Services, database: Database
) -> None:
    seeded = await seed(database)
    config = TrackingConfig(max_body_bytes=1024, link_cache_seconds=0)
    payload: dict[str, Any] = {"code": seeded.link.code, "txn_id": "BIG", "pad": "x" * 5000}
    async with running(services, config) as client:
        response = await client.post("/postback?token=s3cret", json=payload)
    assert response.status == 413
    async with database.read() as store:
        assert await store.conversions.count() == 0
