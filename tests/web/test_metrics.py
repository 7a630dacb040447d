"""``GET /metrics`` over real HTTP, read the way Prometheus reads it."""

from __future__ import annotations

from prometheus_client import REGISTRY

from commands.core.invocation import Services
from storage import Database
from tests.tracking_support import EARLY, running, scrape, seed
from tests.web.test_postback_auth import click

PREVIEW = "TelegramBot (like TwitterBot)"


async def test_every_metric_counts_what_the_server_answered(
    services: Services, database: Database
) -> None:
    seeded = await seed(database)
    soon = await seed(database, slug="soon", user="bob", fallback="https://soon.example/")
    gone = await seed(database, slug="gone", user="carol")
    landing = await seed(database, slug="landing", user="dave", destination="https://l.example/")
    async with database.transaction() as store:
        await store.programs.set_status(soon.program.id, "paused", now=EARLY)
        await store.affiliates.set_status(gone.affiliate.id, "suspended", reason="test")
        await store.programs.set_status(landing.program.id, "paused", now=EARLY)
    async with running(services) as client:
        before = await scrape(client)
        click_ids = [await click(client, seeded) for _ in range(3)]
        code = seeded.link.code
        assert (await client.head(f"/r/{code}", allow_redirects=False)).status == 302
        preview = await client.get(
            f"/r/{code}", allow_redirects=False, headers={"User-Agent": PREVIEW}
        )
        assert preview.status == 302
        assert (await client.get("/r/nosuchcode", allow_redirects=False)).status == 404
        assert (await client.get("/r/" + "x" * 33, allow_redirects=False)).status == 404
        assert (await client.get(f"/r/{soon.link.code}", allow_redirects=False)).status == 302
        assert (await client.get(f"/r/{gone.link.code}", allow_redirects=False)).status == 410
        paused = await client.get(f"/r/{landing.link.code}", allow_redirects=False)
        assert paused.headers["Location"] == "https://l.example/"
        during = await scrape(client)
        postback = f"/postback?token=s3cret&click_id={click_ids[0]}&txn_id=M-1&amount=10"
        assert (await client.get(postback)).status == 200  # flushes the held clicks first
        assert (await client.get(postback)).status == 200
        unknown = "/postback?token=s3cret&code=nocode&txn_id=M-2&amount=1"
        assert (await client.get(unknown)).status == 404
        after = await scrape(client)

    assert before.types == {
        "affbot_redirects": "counter",
        "affbot_clicks": "counter",
        "affbot_postbacks": "counter",
        "affbot_clicks_written": "counter",
        "affbot_click_write_failures": "counter",
        "affbot_rate_limited": "counter",
        "affbot_click_buffer_depth": "gauge",
        "affbot_click_flush_seconds": "histogram",
    }
    assert before.value("affbot_clicks_written_total") == 0
    assert before.value("affbot_click_flush_seconds_count") == 0
    assert "affbot_redirects_total" not in {name for name, _ in before.samples}

    assert during.value("affbot_click_buffer_depth") == 3
    assert during.value("affbot_clicks_written_total") == 0

    outcomes = {"destination": 5, "unknown": 2, "gone": 1, "fallback": 1, "landing": 1}
    for outcome, count in outcomes.items():
        assert after.value("affbot_redirects_total", outcome=outcome) == count, outcome
    for kind, count in {"counted": 3, "head": 1, "preview_bot": 1}.items():
        assert after.value("affbot_clicks_total", kind=kind) == count, kind
    for result, count in {"inserted": 1, "duplicate": 1, "rejected_404": 1}.items():
        assert after.value("affbot_postbacks_total", result=result) == count, result
    assert after.value("affbot_clicks_written_total") == 3
    assert after.value("affbot_click_write_failures_total") == 0
    assert after.value("affbot_rate_limited_total") == 0
    assert after.value("affbot_click_buffer_depth") == 0
    assert after.value("affbot_click_flush_seconds_count") == 1
    assert after.value("affbot_click_flush_seconds_bucket", le="+Inf") == 1
    assert 0 < after.value("affbot_click_flush_seconds_sum") <= 5
    buckets = [
        after.value("affbot_click_flush_seconds_bucket", le=bound)
        for bound in ("0.001", "0.01", "0.1", "1.0", "5.0")
    ]
    assert buckets == sorted(buckets)  # cumulative, as Prometheus requires
    async with database.read() as store:
        assert await store.clicks.count() == 3


async def test_servers_in_one_process_keep_their_own_counts(
    services: Services, database: Database
) -> None:
    seeded = await seed(database)
    async with running(services) as busy, running(services) as idle:
        await click(busy, seeded)
        await click(busy, seeded)
        busy_scrape, idle_scrape = await scrape(busy), await scrape(idle)
    assert busy_scrape.value("affbot_redirects_total", outcome="destination") == 2
    assert "affbot_redirects_total" not in {name for name, _ in idle_scrape.samples}
    assert idle_scrape.value("affbot_click_buffer_depth") == 0
    # Nothing reaches the process-wide default registry that other libraries share.
    assert REGISTRY.get_sample_value("affbot_redirects_total", {"outcome": "destination"}) is None
