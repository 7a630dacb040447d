"""The database handle: one async engine for SQLite or PostgreSQL, and its transactions.

``Database.transaction()`` is the unit of work: every repository used inside it shares one
connection and commits together, or not at all. On SQLite a writing transaction starts with
``BEGIN IMMEDIATE`` so that two writers queue on the busy timeout instead of failing when a
deferred read lock cannot be upgraded; readers use WAL snapshots and never block writers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection as SyncConnection
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from storage.store import Store

SQLITE_BUSY_TIMEOUT_MS = 10_000
_WRITE = "affbot_write"


def async_url(url: str) -> str:
    """Map the URLs people write (``sqlite:///x.db``, ``postgresql://…``) to async drivers."""
    parsed = make_url(url)
    driver = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}.get(
        parsed.drivername, parsed.drivername
    )
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


class Database:
    """An engine plus the transaction discipline every caller shares."""

    def __init__(
        self, engine: AsyncEngine, *, url: str | None = None, schema: str | None = None
    ) -> None:
        self.engine = engine
        # What another process needs to open the same database (the click writer).
        self.url = url or engine.url.render_as_string(hide_password=False)
        self.schema = schema

    @classmethod
    def connect(cls, url: str, *, schema: str | None = None) -> Database:
        """Create the engine (no I/O yet).

        Args:
            url: ``sqlite:///PATH`` or ``postgresql://…`` (driver suffixes are optional).
            schema: PostgreSQL schema to work in (tests isolate runs this way).
        """
        full = async_url(url)
        kwargs: dict[str, Any] = {}
        if full.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        elif schema is not None:
            kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
        engine = create_async_engine(full, **kwargs)
        if engine.dialect.name == "sqlite":
            _configure_sqlite(engine)
        return cls(engine, url=url, schema=schema)

    @property
    def in_memory(self) -> bool:
        """Whether this is a private in-memory SQLite database no other process can open."""
        return self.dialect == "sqlite" and self.engine.url.database in {None, "", ":memory:"}

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``: for the few places where the engines differ."""
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Store]:
        """A writing unit of work; commits on success, rolls back on any exception."""
        async with self.writing() as connection:
            yield Store(connection)

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncConnection]:
        """A raw connection in a writing transaction (migrations and bulk loads)."""
        async with self.engine.connect() as connection:
            await connection.execution_options(**{_WRITE: True})
            async with connection.begin():
                yield connection

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Store]:
        """A read-only snapshot; cheaper than a transaction on SQLite (no write lock)."""
        async with self.engine.connect() as connection, connection.begin():
            yield Store(connection)

    async def ping(self) -> None:
        """Raise if the database cannot be reached."""
        async with self.engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")

    async def close(self) -> None:
        """Dispose of the pool; must run inside the loop (aiosqlite threads are not daemons)."""
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine) -> None:
    # pysqlite's own transaction handling is wrong for us (it defers BEGIN and cannot say
    # IMMEDIATE); SQLAlchemy's documented recipe turns it off and emits BEGIN itself.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: SyncConnection) -> None:
        writing = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")
