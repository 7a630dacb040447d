"""Click logging over real HTTP: preview bots, batching, unique visitors, hashed IPs."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select

from bot.config import TrackingConfig
from bot.web import TRACKING
from commands.core.invocation import Services
from storage import Database
from storage.schema import clicks, instance_settings
from tests.conftest import Clock
from tests.tracking_support import running, scrape, seed

BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Safari/604.1"
PREVIEWS = [
    "TelegramBot (like TwitterBot)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Twitterbot/1.0",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "WhatsApp/2.23.20.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "SomeCrawler/3.0",
    "",
]
TRUSTING = TrackingConfig(
    click_batch_size=1000, click_flush_seconds=60, link_cache_seconds=0, trust_forwarded_for=True
)


async def test_preview_bots_are_redirected_but_not_counted(
    services: Services, database: Database
) -> None:
    seeded = await seed(database)
    async with running(services) as client:
        for agent in PREVIEWS:
            response = await client.get(
                f"/r/{seeded.link.code}", allow_redirects=False, headers={"User-Agent": agent}
            )
            assert response.status == 302, agent
        await client.get(
            f"/r/{seeded.link.code}", allow_redirects=False, headers={"User-Agent": BROWSER}
        )
        scraped = await scrape(client)
    async with database.read() as store:
        assert await store.clicks.count() == 1
        row = (await store.connection.execute(select(clicks))).one()
    assert row.user_agent_family == "safari"
    assert scraped.value("affbot_clicks_total", kind="preview_bot") == len(PREVIEWS)
    assert scraped.value("affbot_clicks_total", kind="counted") == 1


async def test_clicks_are_written_in_batches_by_count(
    services: Services, database: Database
) -> None:
    seeded = await seed(database)
    config = TrackingConfig(click_batch_size=10, click_flush_seconds=60, link_cache_seconds=0)
    async with running(services, config) as client:
        tracking = client.app[TRACKING]
        for _ in range(25):
            await client.get(f"/r/{seeded.link.code}", allow_redirects=False)
        # Two full batches go to the writer child, which may still be starting: wait for
        # their commits, not for the buffer to hand them over.
        for _ in range(500):
            if tracking.metrics.clicks_written >= 20:
                break
            await asyncio.sleep(0.02)
        async with database.read() as store:
            assert await store.clicks.count() == 20
        assert tracking.buffer.depth() == 5
        assert tracking.metrics.flush_seconds.total == 2  # two transactions, not twenty
    # Leaving the server runs its cleanup: the last partial batch is written.
    async with database.read() as store:
        assert await store.clicks.count() == 25
    assert tracking.metrics.flush_seconds.total == 3


async def test_clicks_are_written_by_time(services: Services, database: Database) -> None:
    seeded = await seed(database)
    config = TrackingConfig(click_batch_size=1000, click_flush_seconds=0.05, link_cache_seconds=0)
    async with running(services, config) as client:
        tracking = client.app[TRACKING]
        for _ in range(3):
            await client.get(f"/r/{seeded.link.code}", allow_redirects=False)
        # Until acknowledged (the click writer answers after screening and badges, a
        # moment after the commit) the clicks count as waiting.
        for _ in range(200):
            if tracking.buffer.depth() == 0:
                break
            await asyncio.sleep(0.02)
        async with database.read() as store:
            assert await store.clicks.count() == 3
        scraped = await scrape(client)
    assert scraped.value("affbot_click_buffer_depth") == 0
    # Usually one batch; a loaded machine can let the 50 ms timer fire between requests.
    assert 1 <= scraped.value("affbot_click_flush_seconds_count") <= 3


async def test_no_raw_ip_is_stored_and_the_salt_is_kept(
    services: Services, database: Database
) -> None:
    seeded = await seed(database)
    headers = {"X-Forwarded-For": "203.0.113.7", "Referer": "https://news.example/a/b?c=d"}
    async with running(services, TRUSTING) as client:
        await client.get(f"/r/{seeded.link.code}", allow_redirects=False, headers=headers)
    async with running(services, TRUSTING) as client:
        await client.get(f"/r/{seeded.link.code}", allow_redirects=False, headers=headers)
    async with database.read() as store:
        rows = (await store.connection.execute(select(clicks))).all()
        salts = (await store.connection.execute(select(instance_settings))).all()
    assert len(rows) == 2
    assert rows[0].ip_hash == rows[1].ip_hash  # the generated salt survived the restart
    assert len(salts) == 1
    for row in rows:
        assert "203.0.113.7" not in str(tuple(row))
        assert len(row.ip_hash) == 64
        assert row.referer_host == "news.example"


async def test_an_ipv4_mapped_address_is_the_same_visitor(
    services: Services, database: Database
) -> None:
    """A dual-stack listener (or proxy) reports IPv4 visitors as ``::ffff:a.b.c.d``; the
    visitor must hash as the plain address, as postbacks' customer IPs do."""
    seeded = await seed(database)
    async with running(services, TRUSTING) as client:
        for address in ("203.0.113.7", "::ffff:203.0.113.7", "::FFFF:203.0.113.7"):
            headers = {"X-Forwarded-For": address}
            await client.get(f"/r/{seeded.link.code}", allow_redirects=False, headers=headers)
    async with database.read() as store:
        rows = (await store.connection.execute(select(clicks.c.ip_hash, clicks.c.net_hash))).all()
    assert len(rows) == 3
    assert len(set(rows)) == 1


async def test_unique_clicks_count_one_per_visitor_per_link_per_hour(
    services: Services, database: Database, clock: Clock
) -> None:
    seeded = await seed(database)
    other = await seed(database, slug="other", destination="https://other.example/")
    clock.now = clock.now.replace(minute=10)
    start = clock.now
    async with running(services, TRUSTING) as client:

        async def visit(code: str, address: str) -> None:
            await client.get(
                f"/r/{code}", allow_redirects=False, headers={"X-Forwarded-For": address}
            )

        for _ in range(3):
            await visit(seeded.link.code, "198.51.100.1")
        await visit(seeded.link.code, "198.51.100.2")
        await visit(other.link.code, "198.51.100.1")
        clock.advance(hours=1)
        await visit(seeded.link.code, "198.51.100.1")
    async with database.read() as store:
        counts = await store.clicks.counts_for_affiliate(
            seeded.affiliate.id, start, start + timedelta(hours=2)
        )
        none = await store.clicks.counts_for_affiliate(
            seeded.affiliate.id, start + timedelta(hours=2), start + timedelta(hours=3)
        )
    by_program = {count.program_id: (count.raw, count.unique) for count in counts}
    assert by_program == {seeded.program.id: (5, 3), other.program.id: (1, 1)}
    assert none == []


async def test_healthz_reports_the_database(services: Services, database: Database) -> None:
    async with running(services) as client:
        response = await client.get("/healthz")
        assert response.status == 200
        assert (await response.json())["status"] == "ok"


async def test_healthz_fails_when_the_database_is_unreachable(
    services: Services, tmp_path: Path
) -> None:
    broken = Database.connect(f"sqlite:///{tmp_path / 'missing' / 'affbot.db'}")
    config = TrackingConfig(ip_hash_salt=SecretStr("pepper"))
    try:
        async with running(replace(services, database=broken), config) as client:
            response = await client.get("/healthz")
            assert response.status == 503
            assert await response.json() == {"status": "error", "database": "unreachable"}
    finally:
        await broken.close()
