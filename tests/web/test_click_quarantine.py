"""Clicks the database refuses are set aside; they never hold up the clicks after them.

Issue 17 item 1: a non-UTF-8 ``Referer`` made a click whose batch could never be written;
the batch was retried forever, later clicks queued behind it, their postbacks got 404 and
shutdown lost them all. The edge now cleans such headers, so these tests hand the buffer
rows the database refuses on both engines directly (through the buffer's own API): lone
surrogates, which no driver can encode, and a click for a link that does not exist.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime

import pytest

from bot.config import TrackingConfig
from bot.web import TRACKING
from bot.web.click_batches import BatchWriter, click_row, visit_row
from bot.web.click_buffer import ClickBuffer
from bot.web.click_quarantine import REPORT_SECONDS, Quarantine
from bot.web.click_sinks import InlineSink
from bot.web.metrics import Metrics
from commands.core.invocation import Services
from storage import Database
from storage.clicks import NewClick, new_click, new_click_id
from tests.tracking_support import running, scrape, seed
from tests.web.test_click_writer import stored_ids
from tests.web.test_postback_auth import click

NOON = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
SURROGATE_HOST = "\udcff\udcfe.example"  # what b"\xff\xfe" becomes with surrogateescape


def refused_rows(link_id: int) -> list[NewClick]:
    """Two rows no engine can store: undecodable text, and a link that does not exist."""
    return [
        new_click(
            click_id=new_click_id(),
            link_id=link_id,
            occurred_at=NOON,
            ip_hash="a" * 64,
            user_agent_family="firefox",
            referer_host=SURROGATE_HOST,
            net_hash="b" * 64,
        ),
        new_click(
            click_id=new_click_id(),
            link_id=987_654,
            occurred_at=NOON,
            ip_hash="a" * 64,
            user_agent_family="firefox",
            referer_host=None,
            net_hash="b" * 64,
        ),
    ]


@pytest.mark.parametrize("writer", ["inline", "process"])
async def test_a_refused_click_never_blocks_later_clicks_or_their_postbacks(
    services: Services, database: Database, writer: str
) -> None:
    seeded = await seed(database)
    config = TrackingConfig(
        click_batch_size=1000, click_flush_seconds=60, link_cache_seconds=0, click_writer=writer
    )
    async with running(services, config) as client:
        tracking = client.app[TRACKING]
        bad = refused_rows(seeded.link.id)
        for row in bad:
            tracking.buffer.add(click_row(row))
        # A visit whose address no hash can encode (it came in as raw bytes).
        bad_visit = new_click_id()
        tracking.buffer.add(
            visit_row(bad_visit, seeded.link.id, NOON, "203.0.113.\udcff", "safari", None)
        )
        if database.dialect == "postgresql":  # text PostgreSQL refuses and SQLite keeps
            tracking.buffer.add(
                visit_row(new_click_id(), seeded.link.id, NOON, "203.0.113.9", "sa\x00fari", None)
            )
        later = [await click(client, seeded) for _ in range(3)]
        for number, click_id in enumerate(later):
            response = await client.get(
                "/postback",
                params={
                    "token": "s3cret",
                    "click_id": click_id,
                    "txn_id": f"T-{number}",
                    "amount": "40.00",
                },
            )
            assert response.status == 200, await response.text()
        assert tracking.buffer.depth() == 0
        scraped = await scrape(client)
    kinds = {
        dict(labels)["kind"]: value
        for (name, labels), value in scraped.samples.items()
        if name == "affbot_clicks_quarantined_total"
    }
    assert kinds.pop("UnicodeEncodeError") == 2
    if database.dialect == "postgresql":
        assert kinds.pop("CharacterNotInRepertoireError") == 1
    assert sum(kinds.values()) == 1  # the foreign key, named by each engine's driver
    assert scraped.value("affbot_click_write_failures_total") == 0
    assert set(await stored_ids(database)) == set(later)
    async with database.read() as store:
        assert await store.conversions.count() == 3


async def test_a_refusal_is_logged_once_per_kind_and_period(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    seeded = await seed(database)
    now = [0.0]
    metrics = Metrics()
    writer = BatchWriter(database, quarantine=Quarantine(clock=lambda: now[0]))
    buffer = ClickBuffer(
        database, batch_size=1000, flush_seconds=60, metrics=metrics, sink=InlineSink(writer)
    )
    caplog.set_level(logging.ERROR, logger="bot.web.click_quarantine")
    for _ in range(5):
        for row in refused_rows(seeded.link.id):
            buffer.add(click_row(row))
    assert await buffer.flush()
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2  # one per kind, not one per row
    assert all(SURROGATE_HOST not in line for line in lines)  # no row values in the log
    now[0] += REPORT_SECONDS
    buffer.add(click_row(refused_rows(seeded.link.id)[0]))
    assert await buffer.flush()
    assert len(caplog.records) == 3
    last = caplog.records[-1].getMessage()
    assert "5 of this kind since the last report" in last  # the 4 held back, and this one
    assert sum(metrics.clicks_quarantined.values()) == 11
    assert metrics.clicks_written == 0


async def test_a_locked_database_keeps_the_batch_and_loses_nothing(
    database: Database,
) -> None:
    """An outage is not the rows' fault: the batch is kept whole and written later."""
    if database.dialect != "sqlite":
        pytest.skip("SQLite's write lock is the outage that can be held from a test")
    seeded = await seed(database)
    metrics = Metrics()
    buffer = ClickBuffer(database, batch_size=1000, flush_seconds=60, metrics=metrics)
    buffer.use_salt("pepper")
    sent = [new_click_id() for _ in range(3)]
    for click_id in sent:
        buffer.add(visit_row(click_id, seeded.link.id, NOON, "198.51.100.23", "chrome", None))
    path = database.engine.url.database
    assert path is not None
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # holds the write lock past the busy timeout
        assert not await buffer.flush()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert metrics.click_write_failures == 1
    assert not metrics.clicks_quarantined
    assert all(buffer.holds(click_id) for click_id in sent)
    assert await buffer.flush()
    assert set(await stored_ids(database)) == set(sent)
    assert buffer.depth() == 0
