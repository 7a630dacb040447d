"""Forward-only schema migrations (Alembic), run on start-up and by ``affbot db upgrade``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from storage.database import Database

_MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant works; it only has to be the same in every affbot process sharing a database.
_PG_MIGRATION_LOCK = 0x0AFFB07


def _alembic_config(connection: Connection | None = None) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision shipped with this version of affbot."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError("no migrations found")
    return head


def revisions() -> list[str]:
    """Every shipped revision, oldest first."""
    script = ScriptDirectory.from_config(_alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


async def current_revision(database: Database) -> str | None:
    """The revision the database is at, or ``None`` for an empty database."""
    async with database.engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


async def upgrade(database: Database, target: str = "head") -> str | None:
    """Bring the schema up to ``target`` and return the revision it is at afterwards.

    On PostgreSQL an advisory lock makes concurrent start-ups of several processes take
    turns; SQLite serialises writers by itself.
    """

    def run(sync: Connection) -> None:
        if sync.dialect.name == "postgresql":
            sync.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        command.upgrade(_alembic_config(sync), target)

    async with database.writing() as connection:
        await connection.run_sync(run)
    return await current_revision(database)
