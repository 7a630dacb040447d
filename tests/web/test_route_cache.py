"""The route cache: one read per code however many requests miss at once, and an expired
decision served while a single background read replaces it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, text, update
from sqlalchemy.exc import DBAPIError

from bot.web.routes import MAX_STALE_LIFETIMES, REFRESH_AFTER, RouteCache, RouteKind
from storage import Database
from storage.schema import programs
from tests.tracking_support import seed

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


class LinkReads:
    """Counts the link lookups the database actually runs."""

    def __init__(self, database: Database) -> None:
        self.count = 0
        self._engine = database.engine.sync_engine

    def __enter__(self) -> LinkReads:
        event.listen(self._engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self._engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM links" in statement:
            self.count += 1


async def pause(database: Database, program_id: int) -> None:
    async with database.transaction() as store:
        await store.connection.execute(
            update(programs).where(programs.c.id == program_id).values(status="paused")
        )


async def test_concurrent_misses_share_one_read(database: Database) -> None:
    seeded = await seed(database)
    cache = RouteCache(database, ttl_seconds=60, zone=ZoneInfo("UTC"))
    with LinkReads(database) as reads:
        routes = await asyncio.gather(*(cache.route(seeded.link.code, NOW) for _ in range(20)))
        assert {route.kind for route in routes} == {RouteKind.DESTINATION}
        assert reads.count == 1
        assert cache.cached(seeded.link.code, NOW) is routes[0]
        assert reads.count == 1


async def test_a_decision_in_its_second_half_is_re_read_in_the_background(
    database: Database,
) -> None:
    seeded = await seed(database)
    code = seeded.link.code
    cache = RouteCache(database, ttl_seconds=0.4, zone=ZoneInfo("UTC"))
    first = await cache.route(code, NOW)
    assert first.kind is RouteKind.DESTINATION
    await pause(database, seeded.program.id)
    await asyncio.sleep(0.4 * REFRESH_AFTER + 0.02)  # past half its life, not expired
    with LinkReads(database) as reads:
        # Every request meanwhile gets the last decision at once; one read runs.
        assert all(cache.cached(code, NOW) is first for _ in range(10))
        for _ in range(30):
            await asyncio.sleep(0.01)
            fresh = cache.cached(code, NOW)
            if fresh is not first:
                break
        assert reads.count == 1
    assert fresh is not None
    assert fresh.kind is RouteKind.LANDING  # the pause took effect, before expiry
    assert fresh.reason == "program paused"


async def test_no_decision_is_served_past_its_lifetime(database: Database) -> None:
    """Issue 16, bug 11: an expired decision was still served (with a background read)
    up to 12 lifetimes, so on a quiet link a pause showed after ~14 s with a 5 s cache:
    the first click after expiry got the old route. Now that click reads afresh."""
    seeded = await seed(database)
    code = seeded.link.code
    cache = RouteCache(database, ttl_seconds=0.05, zone=ZoneInfo("UTC"))
    await cache.route(code, NOW)
    await pause(database, seeded.program.id)
    await asyncio.sleep(0.06)
    assert cache.cached(code, NOW) is None  # the caller reads afresh instead
    assert (await cache.route(code, NOW)).kind is RouteKind.LANDING


async def test_forget_drops_decisions_and_reads_started_before_it(database: Database) -> None:
    seeded = await seed(database)
    code = seeded.link.code
    cache = RouteCache(database, ttl_seconds=60, zone=ZoneInfo("UTC"))
    assert (await cache.route(code, NOW)).kind is RouteKind.DESTINATION
    # A read already under way when forget runs is answered but never cached.
    cache.forget()
    in_flight = asyncio.ensure_future(cache.route(code, NOW))
    await asyncio.sleep(0)  # the read has started
    cache.forget()
    assert (await in_flight).kind is RouteKind.DESTINATION
    assert cache.cached(code, NOW) is None
    await pause(database, seeded.program.id)
    assert (await cache.route(code, NOW)).kind is RouteKind.LANDING
    assert cache.cached(code, NOW) is not None
    cache.forget()
    assert cache.cached(code, NOW) is None


async def test_a_failed_read_serves_the_last_decision_for_a_while(database: Database) -> None:
    seeded = await seed(database)
    code = seeded.link.code
    cache = RouteCache(database, ttl_seconds=0.02, zone=ZoneInfo("UTC"))
    first = await cache.route(code, NOW)
    await asyncio.sleep(0.03)
    async with database.transaction() as store:  # the links table is unreadable for a moment
        await store.connection.execute(text("ALTER TABLE links RENAME TO links_away"))
    try:
        assert await cache.route(code, NOW) is first
        await asyncio.sleep(0.02 * (MAX_STALE_LIFETIMES + 1))
        with pytest.raises(DBAPIError):
            await cache.route(code, NOW)
    finally:
        async with database.transaction() as store:
            await store.connection.execute(text("ALTER TABLE links_away RENAME TO links"))
    assert (await cache.route(code, NOW)).kind is RouteKind.DESTINATION


async def test_without_a_lifetime_every_route_is_read(database: Database) -> None:
    seeded = await seed(database)
    cache = RouteCache(database, ttl_seconds=0, zone=ZoneInfo("UTC"))
    with LinkReads(database) as reads:
        await cache.route(seeded.link.code, NOW)
        await cache.route(seeded.link.code, NOW)
        assert cache.cached(seeded.link.code, NOW) is None
    assert reads.count == 2
