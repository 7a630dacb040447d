"""The click writer process: real children writing real SQLite and PostgreSQL databases."""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot.config import TrackingConfig
from bot.web import TRACKING, build_web_app
from bot.web.click_batches import BatchWriter, click_row, visit_row
from bot.web.click_buffer import ClickBuffer
from bot.web.click_sinks import InlineSink, ProcessSink
from bot.web.metrics import Metrics
from bot.web.visitors import hash_ip, hash_network
from commands.core.invocation import Services
from commands.fraud.rules import FraudRules
from storage import Database
from storage.clicks import NewClick, new_click, new_click_id
from storage.schema import clicks, fraud_click_counters, links, outbox
from tests.processes import gone
from tests.tracking_support import Seeded, running, seed
from tests.web.test_postback_auth import click

PROCESS = TrackingConfig(
    click_batch_size=1000, click_flush_seconds=60, link_cache_seconds=0, click_writer="process"
)
NOON = datetime(2026, 11, 18, 12, 0, 0, 123457, tzinfo=UTC)


def visit(link_id: int, at: datetime = NOON, address: str = "203.0.113.7") -> NewClick:
    return new_click(
        click_id=new_click_id(),
        link_id=link_id,
        occurred_at=at,
        ip_hash=hash_ip("salt", address),
        user_agent_family="firefox",
        referer_host="news.example",
        net_hash=hash_network("salt", address),
    )


def process_buffer(
    database: Database, *, batch_size: int = 1000, fraud: FraudRules | None = None
) -> tuple[ClickBuffer, ProcessSink, Metrics]:
    sink = ProcessSink(database, fraud=fraud)
    metrics = Metrics()
    buffer = ClickBuffer(
        database, batch_size=batch_size, flush_seconds=60, metrics=metrics, sink=sink
    )
    return buffer, sink, metrics


async def stored_ids(database: Database) -> list[str]:
    async with database.read() as store:
        return list((await store.connection.execute(select(clicks.c.click_id))).scalars())


async def test_clicks_reach_the_database_with_their_exact_times(database: Database) -> None:
    seeded = await seed(database)
    eastern = timezone(timedelta(hours=-5))
    times = [
        NOON,
        NOON + timedelta(microseconds=1),
        datetime(2026, 11, 18, 7, 0, 0, 999999, eastern),
    ]
    sent = [visit(seeded.link.id, at) for at in times]
    buffer, sink, metrics = process_buffer(database)
    await buffer.start()
    for one in sent:
        buffer.add(click_row(one))
    assert await buffer.flush()
    pid = sink.pid
    assert pid is not None
    assert pid != os.getpid()
    assert not buffer.holds(sent[0].click_id)
    assert metrics.clicks_written == 3
    async with database.read() as store:
        rows = (await store.connection.execute(select(clicks).order_by(clicks.c.id))).all()
    assert [(row.click_id, row.occurred_at) for row in rows] == [
        (one.click_id, one.occurred_at.astimezone(UTC)) for one in sent
    ]
    assert all(row.occurred_at.tzinfo is not None for row in rows)
    assert rows[0].referer_host == "news.example"
    assert rows[0].net_hash == sent[0].net_hash
    await buffer.stop()  # ends the child's input: it exits on its own
    assert sink.pid is None
    assert gone(pid)


async def test_a_postback_for_a_fresh_click_waits_for_the_child(
    services: Services, database: Database
) -> None:
    seeded = await seed(database)
    async with running(services, PROCESS) as client:
        tracking = client.app[TRACKING]
        click_id = await click(client, seeded)
        assert tracking.buffer.holds(click_id)  # nothing written yet: batch size, 60 s timer
        response = await client.get(
            "/postback",
            params={"token": "s3cret", "click_id": click_id, "txn_id": "T-1", "amount": "40.00"},
        )
        assert response.status == 200, await response.text()
        assert not tracking.buffer.holds(click_id)
        assert isinstance(tracking.buffer.sink, ProcessSink)
    async with database.read() as store:
        assert await store.conversions.count() == 1
        assert await store.clicks.count() == 1


async def test_a_killed_child_is_restarted_and_no_click_is_lost_or_doubled(
    database: Database,
) -> None:
    seeded = await seed(database)
    buffer, sink, metrics = process_buffer(database, batch_size=20)
    await buffer.start()
    sent: list[NewClick] = []
    killed: list[int] = []
    for round_number in range(6):
        for _ in range(50):
            one = visit(seeded.link.id)
            sent.append(one)
            buffer.add(click_row(one))
        written = metrics.clicks_written
        flushing = asyncio.create_task(buffer.flush())
        if round_number in {1, 3}:
            # Mid-stream: one of this flush's three batches is in, the next on its way.
            while metrics.clicks_written == written:  # noqa: ASYNC110 - polls another process
                await asyncio.sleep(0.001)
            pid = sink.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        assert await flushing
    await buffer.stop()
    ids = await stored_ids(database)
    assert sorted(ids) == sorted(one.click_id for one in sent)  # each exactly once
    assert metrics.clicks_written == len(sent)
    assert all(gone(pid) for pid in killed)


async def test_a_child_that_died_while_idle_is_replaced(database: Database) -> None:
    seeded = await seed(database)
    buffer, sink, _ = process_buffer(database)
    before, after = visit(seeded.link.id), visit(seeded.link.id)
    buffer.add(click_row(before))
    assert await buffer.flush()
    pid = sink.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    buffer.add(click_row(after))
    assert await buffer.flush()
    assert sink.pid not in {None, pid}
    assert sorted(await stored_ids(database)) == sorted([before.click_id, after.click_id])
    await buffer.stop()


async def test_a_row_the_child_cannot_write_is_set_aside_and_the_rest_written(
    database: Database,
) -> None:
    """A click whose link does not exist fails its batch's foreign key; it used to keep the
    whole batch (and every later one) unwritten. Now it alone is set aside and counted."""
    seeded = await seed(database)
    buffer, sink, metrics = process_buffer(database)
    good, orphan, later = visit(seeded.link.id), visit(987_654), visit(seeded.link.id)
    for row in (good, orphan, later):
        buffer.add(click_row(row))
    assert await buffer.flush()
    pid = sink.pid
    assert sorted(await stored_ids(database)) == sorted([good.click_id, later.click_id])
    assert not buffer.holds(orphan.click_id)
    assert buffer.depth() == 0
    assert sum(metrics.clicks_quarantined.values()) == 1
    assert metrics.clicks_written == 2
    assert metrics.click_write_failures == 0
    buffer.add(click_row(next_one := visit(seeded.link.id)))
    assert await buffer.flush()
    assert sink.pid == pid  # a refused row is not a crash: same child
    assert next_one.click_id in await stored_ids(database)
    await buffer.stop()


async def test_the_child_screens_and_badges_with_the_servers_rules(
    database: Database, seeded_pair: tuple[Seeded, Seeded]
) -> None:
    flooded, calm = seeded_pair
    rules = FraudRules(clicks_per_ip=5, alert_targets=(("telegram", "900", "user"),))
    buffer, _, _ = process_buffer(database, fraud=rules)
    for _ in range(6):
        buffer.add(click_row(visit(flooded.link.id)))
    buffer.add(click_row(visit(calm.link.id, address="198.51.100.9")))
    assert await buffer.flush()
    await buffer.stop()
    async with database.read() as store:
        flags = await store.fraud.open_flags(since=None, program_id=None)
        alerts = (
            await store.connection.execute(
                select(outbox.c.platform, outbox.c.target_id).where(
                    outbox.c.dedupe_key.like("fraud%")
                )
            )
        ).all()
        badges = [
            [badge.badge for badge in await store.rewards.badges(seeded.affiliate.id)]
            for seeded in (flooded, calm)
        ]
    assert [(flag.rule, flag.link_id) for flag in flags] == [("ip-flood", flooded.link.id)]
    assert [tuple(alert) for alert in alerts] == [("telegram", "900")]  # the rules' targets
    assert badges == [["first-click"], ["first-click"]]


@pytest.fixture
async def seeded_pair(database: Database) -> tuple[Seeded, Seeded]:
    return await seed(database), await seed(database, user="bob")


async def test_a_resent_batch_stores_each_click_once(database: Database) -> None:
    """What a child killed between its commit and its answer leaves to the next one."""
    seeded = await seed(database)
    first = [visit(seeded.link.id) for _ in range(3)]
    again = [*first, visit(seeded.link.id)]
    async with database.transaction() as store:
        assert await store.clicks.add_many(first) == 3
    async with database.transaction() as store:
        assert await store.clicks.known(one.click_id for one in again) == {
            one.click_id for one in first
        }
        assert await store.clicks.add_many(again) == 1  # only the new one
    assert sorted(await stored_ids(database)) == sorted(one.click_id for one in again)


async def test_a_resent_batch_is_counted_once_by_the_fraud_rules(database: Database) -> None:
    """Clicks and their counters commit together, and a resend counts only the clicks
    that were not stored yet: a writer dying before its acknowledgement raises no
    flood that was not there."""
    seeded = await seed(database)
    writer = BatchWriter(database, fraud=FraudRules(clicks_per_ip=5))
    batch = [click_row(visit(seeded.link.id)) for _ in range(3)]
    await writer.write(batch)
    await writer.write(batch)  # the resend: all three are stored already
    async with database.read() as store:
        assert await store.fraud.open_flags(since=None, program_id=None) == []
        counted = (
            await store.connection.execute(
                select(fraud_click_counters.c.clicks).where(fraud_click_counters.c.scope == "ip")
            )
        ).scalar_one()
    assert counted == 3
    # A resent batch mixed with new clicks (the buffer gave it back and refilled it).
    await writer.write([*batch, *(click_row(visit(seeded.link.id)) for _ in range(2))])
    async with database.read() as store:
        flags = await store.fraud.open_flags(since=None, program_id=None)
    assert [(flag.rule, flag.evidence["clicks"]) for flag in flags] == [("ip-flood", 5)]


async def test_the_config_picks_the_writer(services: Services) -> None:
    def sink(config: TrackingConfig, database: Database) -> object:
        app = build_web_app(replace(services, database=database), config)
        return app[TRACKING].buffer.sink

    assert isinstance(sink(TrackingConfig(), services.database), ProcessSink)  # the default
    assert isinstance(sink(TrackingConfig(click_writer="inline"), services.database), InlineSink)
    memory = Database.connect("sqlite://")  # no other process could open it
    try:
        assert isinstance(sink(TrackingConfig(), memory), InlineSink)
    finally:
        await memory.close()


@pytest.mark.parametrize("mode", ["process", "inline"])
async def test_visits_are_hashed_by_the_writer_and_no_address_is_stored(
    database: Database, mode: str
) -> None:
    """The redirect hands over raw visits; whichever writer runs hashes them with the
    server's salt, and the address itself reaches no table."""
    seeded = await seed(database)
    if mode == "process":
        buffer, _, _ = process_buffer(database)
    else:
        buffer = ClickBuffer(database, batch_size=1000, flush_seconds=60, metrics=Metrics())
    buffer.use_salt("pepper")
    sent = new_click_id()
    buffer.add(visit_row(sent, seeded.link.id, NOON, "198.51.100.23", "chrome", None))
    assert buffer.holds(sent)
    assert await buffer.flush()
    await buffer.stop()
    async with database.read() as store:
        row = (
            await store.connection.execute(
                select(clicks.c.ip_hash, clicks.c.net_hash, clicks.c.occurred_at).where(
                    clicks.c.click_id == sent
                )
            )
        ).one()
    assert row.ip_hash == hash_ip("pepper", "198.51.100.23")
    assert row.net_hash == hash_network("pepper", "198.51.100.0")
    assert row.occurred_at == NOON
    async with database.read() as store:
        for table in (clicks, links, outbox):
            dumped = repr((await store.connection.execute(select(table))).all())
            assert "198.51.100" not in dumped


async def test_a_visit_without_a_salt_is_kept_not_stored_unhashed(database: Database) -> None:
    seeded = await seed(database)
    buffer = ClickBuffer(database, batch_size=1000, flush_seconds=60, metrics=Metrics())
    sent = new_click_id()
    buffer.add(visit_row(sent, seeded.link.id, NOON, "198.51.100.23", "chrome", None))
    assert not await buffer.flush()  # refused: kept for a retry, never written bare
    assert buffer.holds(sent)
    assert await stored_ids(database) == []
    buffer.use_salt("pepper")
    assert await buffer.flush()
    assert await stored_ids(database) == [sent]


async def test_each_address_in_a_batch_gets_its_own_hashes(database: Database) -> None:
    """Hashes are worked out once per address in a batch, never shared between two."""
    seeded = await seed(database)
    buffer = ClickBuffer(database, batch_size=1000, flush_seconds=60, metrics=Metrics())
    buffer.use_salt("pepper")
    addresses = ["198.51.100.1", "203.0.113.9", "198.51.100.1", "2001:db8::7", "203.0.113.9"]
    sent = [(new_click_id(), address) for address in addresses]
    for click_id, address in sent:
        buffer.add(visit_row(click_id, seeded.link.id, NOON, address, "chrome", None))
    assert await buffer.flush()
    async with database.read() as store:
        rows = {
            row.click_id: (row.ip_hash, row.net_hash)
            for row in await store.connection.execute(
                select(clicks.c.click_id, clicks.c.ip_hash, clicks.c.net_hash)
            )
        }
    for click_id, address in sent:
        assert rows[click_id] == (hash_ip("pepper", address), hash_network("pepper", address))


async def rename(database: Database, table: str, to: str) -> None:
    async with database.writing() as connection:
        await connection.exec_driver_sql(f"ALTER TABLE {table} RENAME TO {to}")


@pytest.mark.parametrize("broken", ["fraud_click_counters", "reward_badges"])
async def test_a_failing_screen_or_badge_leaves_the_clicks_and_the_rest_committed(
    database: Database, broken: str
) -> None:
    """Counters and badges share the clicks' transaction, each in a savepoint: when one
    fails (here its table is gone), it alone is rolled back and the batch still lands."""
    seeded = await seed(database)
    writer = BatchWriter(database, fraud=FraudRules(clicks_per_ip=2))
    await rename(database, broken, "away")
    try:
        sent = [visit(seeded.link.id) for _ in range(3)]
        await writer.write([click_row(one) for one in sent])
    finally:
        await rename(database, "away", broken)
    assert sorted(await stored_ids(database)) == sorted(one.click_id for one in sent)
    async with database.read() as store:
        flags = await store.fraud.open_flags(since=None, program_id=None)
        badges = await store.rewards.badges(seeded.affiliate.id)
    if broken == "fraud_click_counters":
        assert flags == []
        assert [badge.badge for badge in badges] == ["first-click"]
    else:
        assert [flag.rule for flag in flags] == ["ip-flood"]
        assert badges == []
    # Nothing stays broken: the next batch is screened and badged as usual.
    await writer.write([click_row(visit(seeded.link.id)) for _ in range(3)])
    async with database.read() as store:
        assert len(await store.fraud.open_flags(since=None, program_id=None)) == 1
        assert [badge.badge for badge in await store.rewards.badges(seeded.affiliate.id)] == [
            "first-click"
        ]
