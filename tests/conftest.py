"""Shared fixtures: a migrated database on every configured engine, and the core on top.

Every test that takes ``database`` runs on SQLite (a file in ``tmp_path``) and, when
``AFFBOT_TEST_DATABASE_URL`` is set, again on PostgreSQL in a schema of its own that is
dropped afterwards. An unreachable PostgreSQL fails those tests; it never skips them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from commands import catalog
from commands.dispatcher import Dispatcher
from commands.invocation import Actor, ChatKind, Services, Settings
from commands.reply import Reply
from storage import Database
from storage.database import async_url
from storage.migrate import upgrade

PG_URL = os.environ.get("AFFBOT_TEST_DATABASE_URL")
ENGINES = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]
BASE_URL = "https://go.example.test"


class Clock:
    """A settable clock so tests control "now" (periods, windows, schedules)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 18, 12, 0, tzinfo=UTC))


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def empty_database(engine_name: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A connected database with no schema yet (for migration tests)."""
    if engine_name == "sqlite":
        database = Database.connect(f"sqlite:///{tmp_path / 'affbot.db'}")
        try:
            yield database
        finally:
            await database.close()
        return
    assert PG_URL is not None
    schema = f"test_{secrets.token_hex(6)}"
    admin = create_async_engine(async_url(PG_URL))
    try:
        async with admin.begin() as connection:
            await connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        database = Database.connect(PG_URL, schema=schema)
        try:
            yield database
        finally:
            await database.close()
            async with admin.begin() as connection:
                await connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await admin.dispose()


@pytest.fixture
async def database(empty_database: Database) -> Database:
    await upgrade(empty_database)
    return empty_database


@pytest.fixture
def services(database: Database, clock: Clock) -> Services:
    return Services(
        database=database,
        settings=Settings(public_base_url=BASE_URL, timezone=ZoneInfo("UTC")),
        clock=clock,
        registry=catalog.load(),
    )


@pytest.fixture
def dispatcher(services: Services) -> Dispatcher:
    return Dispatcher(services.registry, services)


class Chat:
    """Drives the dispatcher as one person would: ``await chat("/join shop")``."""

    def __init__(self, dispatcher: Dispatcher, actor: Actor) -> None:
        self.dispatcher = dispatcher
        self.actor = actor

    async def __call__(self, line: str, chat: ChatKind = ChatKind.PRIVATE) -> Reply:
        replies = await self.dispatcher.execute_line(line, self.actor, chat)
        assert len(replies) == 1, replies
        return replies[0]


@pytest.fixture
def manager(dispatcher: Dispatcher) -> Chat:
    return Chat(dispatcher, Actor("console", "boss", "Boss", is_manager=True))


@pytest.fixture
def alice(dispatcher: Dispatcher) -> Chat:
    return Chat(dispatcher, Actor("console", "alice", "Alice"))


@pytest.fixture
def bob(dispatcher: Dispatcher) -> Chat:
    return Chat(dispatcher, Actor("console", "bob", "Bob"))
