"""``affbot db backup PATH`` and ``affbot db restore PATH`` for SQLite databases.

A backup is taken with SQLite's online backup API, which copies a consistent snapshot
while the bot keeps writing (WAL readers never block the writer). A restore checks that
the file is an affbot database that passes ``PRAGMA integrity_check`` and then copies it
page by page over the configured database; stop the bot first, since a running bot would
keep its old view of the data. PostgreSQL has its own tools: ``pg_dump`` and
``pg_restore`` (see the README).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

PG_MESSAGE = (
    "this database is PostgreSQL: back it up with pg_dump "
    '(pg_dump --format=custom --file=affbot.dump "$DATABASE_URL") and restore with '
    "pg_restore (pg_restore --clean --if-exists --dbname=... affbot.dump); see the README"
)
PAGES_PER_STEP = 1024  # copy in steps so a busy writer is only paused briefly


class BackupError(Exception):
    """A backup or restore that cannot be done; the text is for the operator."""


def sqlite_path(url: str) -> Path:
    """The file behind a ``sqlite:///`` URL.

    Raises:
        BackupError: the URL is not SQLite (PostgreSQL uses pg_dump) or is in memory.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise BackupError(PG_MESSAGE)
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(parsed.database)


def backup(url: str, destination: Path) -> int:
    """Copy the live database to ``destination`` (a new file); returns its size in bytes."""
    source_path = sqlite_path(url)
    if not source_path.is_file():
        raise BackupError(f"{source_path}: no such database")
    if destination.exists():
        raise BackupError(f"{destination}: already exists; choose a new file")
    source = sqlite3.connect(source_path)
    target = sqlite3.connect(destination)
    try:
        source.backup(target, pages=PAGES_PER_STEP)
    finally:
        target.close()
        source.close()
    return destination.stat().st_size


def restore(url: str, source_file: Path) -> None:
    """Replace the configured database's contents with the backup at ``source_file``."""
    target_path = sqlite_path(url)
    if not source_file.is_file():
        raise BackupError(f"{source_file}: no such file")
    source = sqlite3.connect(f"file:{source_file}?mode=ro", uri=True)
    try:
        _check(source, source_file)
        target = sqlite3.connect(target_path)
        try:
            source.backup(target, pages=PAGES_PER_STEP)
        finally:
            target.close()
    finally:
        source.close()


def _check(connection: sqlite3.Connection, path: Path) -> None:
    try:
        verdict = connection.execute("PRAGMA integrity_check").fetchone()
        tables = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path}: not a SQLite database ({error})") from None
    if verdict is None or verdict[0] != "ok":
        raise BackupError(f"{path}: failed the integrity check")
    if "alembic_version" not in tables or "programs" not in tables:
        raise BackupError(f"{path}: not an affbot database")
