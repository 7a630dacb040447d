"""Migrations: an empty database reaches the newest schema, an old one upgrades with its
data intact, and the migrated schema is exactly what ``storage/schema.py`` declares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, TextClause, bindparam, text

from storage import Database
from storage.migrate import current_revision, head_revision, revisions, upgrade
from storage.schema import metadata
from storage.types import UtcDateTime

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _with_time(sql: str) -> TextClause:
    """Raw SQL as an old revision saw it, with ``:now`` bound as a stored timestamp."""
    return text(sql).bindparams(bindparam("now", type_=UtcDateTime))


async def test_empty_database_upgrades_to_head(empty_database: Database) -> None:
    assert await current_revision(empty_database) is None
    assert await upgrade(empty_database) == head_revision()
    # Running again (every start-up does) changes nothing.
    assert await upgrade(empty_database) == head_revision()


async def test_migrations_match_the_declared_schema(empty_database: Database) -> None:
    await upgrade(empty_database)

    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with empty_database.engine.connect() as connection:
        diff = await connection.run_sync(differences)
    assert diff == []


async def test_old_database_upgrades_with_its_data(empty_database: Database) -> None:
    first = revisions()[0]
    await upgrade(empty_database, first)
    assert await current_revision(empty_database) == first
    async with empty_database.writing() as connection:
        await connection.execute(
            _with_time(
                "INSERT INTO programs (slug, name, destination_url, currency, materials, "
                "settings, created_at, updated_at) VALUES ('shop', 'Shop', "
                "'https://shop.example/', 'USD', '{}', '{}', :now, :now)"
            ),
            {"now": NOW},
        )
        await connection.execute(
            _with_time("INSERT INTO affiliates (display_name, created_at) VALUES ('Ann', :now)"),
            {"now": NOW},
        )
    for revision in revisions()[1:]:
        assert await upgrade(empty_database, revision) == revision
    assert await current_revision(empty_database) == head_revision()
    async with empty_database.read() as store:
        program = await store.programs.by_slug("shop")
        affiliate = await store.affiliates.get(1)
    assert program is not None
    assert program.destination_url == "https://shop.example/"
    assert affiliate is not None
    assert affiliate.display_name == "Ann"
    assert affiliate.status == "active"
