"""``affbot db backup PATH`` and ``affbot db restore PATH`` for SQLite databases.

A backup is one ``VACUUM INTO`` a hidden file beside the destination: a single read
transaction, so it sees one consistent snapshot and never restarts however busy the bot is
(WAL readers and the writer do not block each other). SQLite's stepped online backup, used
before, starts over whenever another connection writes between two steps, so under a steady
trickle of clicks it never finished. The copy is then checked (``PRAGMA integrity_check``
and the affbot tables), synced, and only then given its name: the destination is either a
whole, checked backup or absent. ``VACUUM INTO`` is an ordinary statement, so a timeout or
Ctrl-C interrupts it at once (the backup API's single step cannot be interrupted).

A restore checks that the file is an affbot database that passes the integrity check and
copies it over the configured database in one step; stop the bot first, since a running
bot would keep its old view of the data. PostgreSQL has its own tools: ``pg_dump`` and
``pg_restore`` (see the README); on a PostgreSQL URL both commands only say so.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sqlalchemy.engine import make_url

PG_MESSAGE = (
    "this database is PostgreSQL: back it up with pg_dump "
    '(pg_dump --format=custom --file=affbot.dump "$DATABASE_URL") and restore with '
    "pg_restore (pg_restore --clean --if-exists --dbname=... affbot.dump); see the README"
)
PROGRESS_SECONDS = 5.0
_BUSY_SECONDS = 30.0  # waiting for a checkpoint or the writer's lock, never for long
_MB = 1_000_000


class BackupError(Exception):
    """A backup or restore that cannot be done; the text is for the operator."""


@dataclass(frozen=True)
class BackupResult:
    size: int  # bytes in the finished backup
    seconds: float  # copy and check, wall clock


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


def backup(
    url: str,
    destination: Path,
    *,
    timeout: float | None = None,
    progress: TextIO | None = None,
    progress_seconds: float = PROGRESS_SECONDS,
) -> BackupResult:
    """Copy the live database to ``destination`` (a new file) and check the copy.

    Args:
        timeout: give up after this many seconds, leaving no file behind.
        progress: where to write a line every ``progress_seconds`` while copying.

    Raises:
        BackupError: nothing was written to ``destination``; the text says why.
    """
    source_path = sqlite_path(url)
    if not source_path.is_file():
        raise BackupError(f"{source_path}: no such database")
    if destination.exists():
        raise BackupError(f"{destination}: already exists; choose a new file")
    if not destination.parent.is_dir():
        raise BackupError(f"{destination.parent}: no such directory")
    partial = destination.with_name(f".{destination.name}.partial-{os.getpid()}")
    started = time.monotonic()
    job = _Job(source_path, partial)
    expected = job.expected_size()
    _say(progress, f"backing up {source_path} (about {expected / _MB:.0f} MB) to {destination}")
    worker = threading.Thread(target=job.run, name="affbot-backup", daemon=True)
    worker.start()
    try:
        _wait(worker, job, started, timeout, progress, progress_seconds, expected)
        if job.error is not None:
            raise job.error
        _publish(partial, destination)
    except BaseException:
        job.interrupt()
        worker.join()
        partial.unlink(missing_ok=True)
        raise
    return BackupResult(destination.stat().st_size, time.monotonic() - started)


def _wait(
    worker: threading.Thread,
    job: _Job,
    started: float,
    timeout: float | None,
    progress: TextIO | None,
    every: float,
    expected: int,
) -> None:
    deadline = None if timeout is None else started + timeout
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        worker.join(every if left is None else max(0.0, min(every, left)))
        if not worker.is_alive():
            return
        if deadline is not None and time.monotonic() >= deadline:
            raise BackupError(
                f"the backup did not finish within {timeout:g} s; nothing was written "
                "(try a longer --timeout)"
            )
        _say(progress, job.describe(time.monotonic() - started, expected))


class _Job:
    """The copy and the check, run on a worker thread that the caller can interrupt."""

    def __init__(self, source: Path, partial: Path) -> None:
        self._source = source
        self._partial = partial
        self._stage = "copying"
        self._current: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self.error: BackupError | None = None

    def expected_size(self) -> int:
        """Bytes in use in the source (what ``VACUUM INTO`` writes, give or take)."""
        try:
            with contextlib.closing(self._connect(self._source)) as connection:
                pages = connection.execute("PRAGMA page_count").fetchone()[0]
                free = connection.execute("PRAGMA freelist_count").fetchone()[0]
                size = connection.execute("PRAGMA page_size").fetchone()[0]
        except sqlite3.Error as error:
            raise BackupError(f"{self._source}: cannot be read: {error}") from None
        return int((pages - free) * size)

    def run(self) -> None:
        try:
            with self._open(self._source) as connection:
                connection.execute("VACUUM INTO ?", (str(self._partial),))
            self._stage = "checking"
            with self._open(self._partial) as connection:
                _check(connection, f"the copy of {self._source}")
        except BackupError as error:
            self.error = error
        except sqlite3.Error as error:
            reason = "interrupted" if self._stopped else str(error)
            self.error = BackupError(f"{self._source}: the backup failed: {reason}")

    @contextlib.contextmanager
    def _open(self, path: Path) -> Iterator[sqlite3.Connection]:
        connection = self._connect(path)
        with self._lock:
            self._current = connection
            if self._stopped:
                connection.interrupt()
        try:
            yield connection
        finally:
            with self._lock:
                self._current = None
            connection.close()

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        return sqlite3.connect(path, timeout=_BUSY_SECONDS, check_same_thread=False)

    def interrupt(self) -> None:
        with self._lock:
            self._stopped = True
            if self._current is not None:
                self._current.interrupt()

    def describe(self, elapsed: float, expected: int) -> str:
        if self._stage == "checking":
            return f"checking the copy ({elapsed:.0f} s so far)"
        try:
            written = self._partial.stat().st_size
        except FileNotFoundError:
            written = 0
        share = min(99, 100 * written // expected) if expected else 0
        return (
            f"copied {written / _MB:.0f} of about {expected / _MB:.0f} MB ({share}%), "
            f"{elapsed:.0f} s so far"
        )


def _publish(partial: Path, destination: Path) -> None:
    """Sync the checked copy and give it its name, never over a file that appeared since."""
    with partial.open("rb+") as handle:
        os.fsync(handle.fileno())
    try:
        os.link(partial, destination)  # fails if the name was taken meanwhile
    except FileExistsError:
        raise BackupError(f"{destination}: already exists; choose a new file") from None
    partial.unlink()
    directory = os.open(destination.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _say(stream: TextIO | None, line: str) -> None:
    if stream is not None:
        stream.write(f"{line}\n")
        stream.flush()


def restore(url: str, source_file: Path) -> None:
    """Replace the configured database's contents with the backup at ``source_file``."""
    target_path = sqlite_path(url)
    if not source_file.is_file():
        raise BackupError(f"{source_file}: no such file")
    if not target_path.parent.is_dir():
        raise BackupError(f"{target_path.parent}: no such directory (check database.url)")
    try:
        source = sqlite3.connect(f"file:{source_file}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise BackupError(f"{source_file}: cannot be opened: {error}") from None
    try:
        _check(source, source_file)
        try:
            with contextlib.closing(sqlite3.connect(target_path, timeout=_BUSY_SECONDS)) as target:
                source.backup(target)  # one step: a restore never restarts half-way
        except sqlite3.Error as error:
            raise BackupError(f"{target_path}: cannot be written: {error}") from None
    finally:
        source.close()


def _check(connection: sqlite3.Connection, path: Path | str) -> None:
    try:
        verdict = connection.execute("PRAGMA integrity_check").fetchone()
        tables = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    except sqlite3.DatabaseError as error:
        if str(error) == "interrupted":
            raise
        raise BackupError(f"{path}: not a SQLite database ({error})") from None
    if verdict is None or verdict[0] != "ok":
        raise BackupError(f"{path}: failed the integrity check")
    if "alembic_version" not in tables or "programs" not in tables:
        raise BackupError(f"{path}: not an affbot database")
