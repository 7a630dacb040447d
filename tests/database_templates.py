"""Migrated databases for tests: migrate once per session, copy the result for each test.

Running every migration costs a few tenths of a second per database, and about 240 tests
ask for one on each engine; most of that is Alembic's Python, not the database's work.

* SQLite: the template is a file, migrated, checkpointed and closed (so the main file
  holds everything and no WAL is left beside it); each test gets a byte-for-byte copy.
* PostgreSQL: the migration runs once, into a scratch schema, and every statement it sends
  is recorded; each test replays that script into a new schema of its own, in one round
  trip. Same statements, same parser, same order: the same schema, down to how each CHECK
  constraint's expression is stored. (A ``pg_dump`` of the migrated schema replays into
  different, equivalent, CHECK expressions, because PostgreSQL prints ``x IN ('a', 'b')``
  on a varchar as an ``ANY (ARRAY[…])`` that parses back otherwise. ``CREATE DATABASE …
  TEMPLATE`` copies exactly, but on PostgreSQL 15 every ``DROP DATABASE`` forces a
  checkpoint of the whole shared server and every copy writes megabytes of WAL.)

``tests/storage/test_database_templates.py`` proves a copy equals a fresh migration.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import create_async_engine

from storage import Database
from storage.database import async_url
from storage.migrate import upgrade

T = TypeVar("T")


def run_in_own_loop(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` in a private event loop, for session fixtures outside any test's loop.

    pytest-asyncio gives each test a loop of its own; a template serves the whole session,
    so it is made in a loop that belongs to no test.
    """
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        return runner.run(work)


class SqliteTemplate:
    """A migrated SQLite file that tests copy instead of migrating their own."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    async def migrate(cls, directory: Path) -> SqliteTemplate:
        path = directory / "template.db"
        database = Database.connect(f"sqlite:///{path}")
        try:
            await upgrade(database)
            async with database.engine.connect() as connection:
                await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            await database.close()
        # The last connection to close removes the WAL; a copy of the main file alone is
        # the whole database only when nothing is left beside it.
        leftovers = [p for p in (Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
        if leftovers:
            raise RuntimeError(f"the template database is still open: {leftovers}")
        return cls(path)

    def copy_to(self, path: Path) -> Database:
        """A database in a fresh copy of the template at ``path`` (connected lazily)."""
        shutil.copyfile(self.path, path)
        return Database.connect(f"sqlite:///{path}")


class PostgresTemplate:
    """What migrating an empty schema sends to PostgreSQL, recorded once to be replayed."""

    def __init__(self, script: str) -> None:
        self.script = script

    @classmethod
    async def record(cls, url: str) -> PostgresTemplate:
        # Random, so that several test sessions can share one server at the same time.
        database = Database.connect(url, schema=f"affbot_template_{secrets.token_hex(6)}")
        statements: list[str] = []

        @event.listens_for(database.engine.sync_engine, "before_cursor_execute")
        def record(
            _connection: Connection,
            _cursor: Any,
            statement: str,
            parameters: Any,
            _context: Any,
            _executemany: bool,
        ) -> None:
            if not parameters:
                statements.append(statement)
            elif not statement.lstrip().upper().startswith("SELECT"):
                # Only reads take parameters today (Alembic's reflection, the migration
                # lock), and a copy can leave reads out; a write would need its values.
                raise RuntimeError(f"cannot record a statement with parameters: {statement}")

        try:
            await create_schema(database)
            await upgrade(database)
        finally:
            await database.close()
            await drop_schema(database)
        # Unqualified names throughout: they land in whatever schema the replay runs in.
        return cls(";\n".join(statements))


async def create_schema(database: Database, script: str = "") -> None:
    """Create the database's schema and run ``script`` in it, in one round trip.

    The connection's search path already names the schema, so unqualified names in the
    script mean the new schema; the script runs as one (implicit) transaction.
    """
    assert database.schema is not None
    async with database.engine.connect() as connection:
        asyncpg = (await connection.get_raw_connection()).driver_connection
        assert asyncpg is not None
        # Only asyncpg's own execute without arguments runs a script of many statements;
        # SQLAlchemy would prepare each statement on its own.
        await asyncpg.execute(f'CREATE SCHEMA "{database.schema}";\n{script}')


async def drop_schema(database: Database) -> None:
    """Drop the database's schema and all in it (after ``database.close()``)."""
    assert database.schema is not None
    admin = create_async_engine(async_url(database.url))
    try:
        async with admin.begin() as connection:
            await connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{database.schema}" CASCADE')
    finally:
        await admin.dispose()
