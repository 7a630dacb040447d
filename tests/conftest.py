"""Shared fixtures: a migrated database on every configured engine, and the core on top.

Every test that takes ``database`` runs on SQLite (a file in ``tmp_path``) and, when
``AFFBOT_TEST_DATABASE_URL`` is set, again on PostgreSQL in a schema of its own that is
dropped afterwards. An unreachable PostgreSQL fails those tests; it never skips them.
Either way the database is a copy of one migrated once per session
(``tests/database_templates.py``), not migrated again for every test.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from commands.core import catalog
from commands.core.dispatcher import Dispatcher
from commands.core.invocation import Actor, ChatKind, Services, Settings
from commands.core.reply import Reply
from storage import Database
from tests.database_templates import (
    PostgresTemplate,
    SqliteTemplate,
    create_schema,
    drop_schema,
    run_in_own_loop,
)

PG_URL = os.environ.get("AFFBOT_TEST_DATABASE_URL")
ENGINES = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]
BASE_URL = "https://go.example.test"
Template = SqliteTemplate | PostgresTemplate


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


@pytest.fixture(autouse=True)
def local_servers_bypass_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fakes listen on 127.0.0.1; a developer's HTTP(S)_PROXY must not route them away."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return run_in_own_loop(SqliteTemplate.migrate(tmp_path_factory.mktemp("template")))


@pytest.fixture(scope="session")
def postgresql_template() -> PostgresTemplate:
    assert PG_URL is not None
    return run_in_own_loop(PostgresTemplate.record(PG_URL))


@pytest.fixture
def database_template(engine_name: str, request: pytest.FixtureRequest) -> Template:
    """The session's migrated template for this engine, made the first time one is needed."""
    # Looked up by name so that a run on SQLite alone never touches PostgreSQL.
    found = request.getfixturevalue(f"{engine_name}_template")
    assert isinstance(found, Template)
    return found


@pytest.fixture
async def empty_database(engine_name: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A connected database with no schema yet (for migration tests)."""
    if engine_name == "sqlite":
        database = Database.connect(f"sqlite:///{tmp_path / 'empty.db'}")
        try:
            yield database
        finally:
            await database.close()
        return
    async with _schema_of_its_own(None) as database:
        yield database


@pytest.fixture
async def database(database_template: Template, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated database of the test's own: a fresh copy of the session's template."""
    if isinstance(database_template, SqliteTemplate):
        database = database_template.copy_to(tmp_path / "affbot.db")
        try:
            yield database
        finally:
            await database.close()
        return
    async with _schema_of_its_own(database_template) as database:
        yield database


@asynccontextmanager
async def _schema_of_its_own(template: PostgresTemplate | None) -> AsyncIterator[Database]:
    """A PostgreSQL schema for one test (empty, or a copy of ``template``), dropped after."""
    assert PG_URL is not None
    database = Database.connect(PG_URL, schema=f"test_{secrets.token_hex(6)}")
    try:
        await create_schema(database, "" if template is None else template.script)
        yield database
    finally:
        await database.close()
        await drop_schema(database)  # if it exists: creating it may have failed


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
