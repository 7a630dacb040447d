"""Backup and restore: a consistent copy taken while conversions are being written."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench.backup import fill_clicks
from bot.backup import BackupError, backup, restore
from bot.cli import main
from commands.tracking.conversions import TrackingRules, record_conversion
from storage import Database
from storage.migrate import upgrade
from storage.schema import conversion_events, conversions
from tests.conftest import Clock
from tests.processes import affbot_env
from tests.tracking_support import seed


async def _counts(database: Database) -> tuple[int, int]:
    async with database.read() as store:
        rows = (
            await store.connection.execute(select(func.count()).select_from(conversions))
        ).scalar_one()
        events = (
            await store.connection.execute(
                select(func.count(func.distinct(conversion_events.c.conversion_id)))
            )
        ).scalar_one()
    return int(rows), int(events)


async def test_a_backup_taken_while_writing_restores_to_a_consistent_database(
    tmp_path: Path, clock: Clock
) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    live = Database.connect(url)
    await upgrade(live)
    seeded = await seed(live)
    written = 0
    stop = asyncio.Event()
    milestones = {20: asyncio.Event(), 40: asyncio.Event()}

    async def keep_writing() -> None:
        nonlocal written
        while not stop.is_set():
            fields = {"code": seeded.link.code, "txn_id": f"W-{written}", "amount": "12.50"}
            await record_conversion(
                live, seeded.program, fields, now=clock.now, rules=TrackingRules()
            )
            written += 1
            if written in milestones:
                milestones[written].set()
            clock.advance(seconds=1)

    writer = asyncio.create_task(keep_writing())
    try:
        await milestones[20].wait()
        copy = tmp_path / "copy.db"
        size = (await asyncio.to_thread(backup, url, copy)).size
        await milestones[40].wait()
    finally:
        stop.set()
        await writer
    assert size > 0
    final = await _counts(live)
    assert final == (written, written)
    await live.close()

    snapshot = Database.connect(f"sqlite:///{copy}")
    try:
        rows, events = await _counts(snapshot)
    finally:
        await snapshot.close()
    assert 20 <= rows < written
    assert events == rows  # every conversion with its event: nothing half-written

    restore(url, copy)
    restored = Database.connect(url)
    try:
        assert await _counts(restored) == (rows, rows)
        await upgrade(restored)  # a restored database is usable as is
    finally:
        await restored.close()


def test_backup_refuses_overwrites_bad_files_and_postgresql(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    with pytest.raises(BackupError, match="no such database"):
        backup(url, tmp_path / "x.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(BackupError, match="not a SQLite database"):
        restore(url, junk)
    with pytest.raises(BackupError, match="pg_dump"):
        backup("postgresql://user@localhost/affbot", tmp_path / "x.db")


def test_the_cli_backs_up_and_explains_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("AFFBOT_DATABASE__URL", url)
    monkeypatch.setenv("AFFBOT_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("", encoding="utf-8")
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "backup", str(tmp_path / "b.db")]) == 0
    assert "backed up to" in capsys.readouterr().out
    assert main(["db", "backup", str(tmp_path / "b.db")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["db", "restore", str(tmp_path / "b.db")]) == 0
    monkeypatch.setenv("AFFBOT_DATABASE__URL", "postgresql://user@127.0.0.1:1/affbot")
    assert main(["db", "backup", str(tmp_path / "p.db")]) == 2
    assert "pg_dump" in capsys.readouterr().err
    assert not (tmp_path / "p.db").exists()


@pytest.fixture(scope="module")
def busy_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An affbot SQLite database of about 30 MB of clicks, built once for this module."""
    path = tmp_path_factory.mktemp("template") / "busy.db"

    async def build() -> None:
        database = Database.connect(f"sqlite:///{path}")
        try:
            await upgrade(database)
            await seed(database)
        finally:
            await database.close()

    asyncio.run(build())
    fill_clicks(path, 30)
    return path


class _Writer:
    """Another connection committing a click every few milliseconds, as the click writer
    does under load: each commit used to restart SQLite's stepped online backup."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stop = threading.Event()
        self.commits = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Writer:
        self._thread.start()
        while self.commits < 20:
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with contextlib.closing(sqlite3.connect(self._path, timeout=30)) as connection:
            connection.execute("PRAGMA journal_mode = wal")
            while not self._stop.is_set():
                connection.execute(
                    "INSERT INTO clicks (click_id, link_id, occurred_at, ip_hash,"
                    " user_agent_family, hour_bucket) VALUES (?, 1, '2026-01-01 00:00:00',"
                    " 'h', 'chrome', 0)",
                    (f"live{self.commits:028d}",),
                )
                connection.commit()
                self.commits += 1
                time.sleep(0.002)


def _clicks(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        return int(connection.execute("SELECT count(*) FROM clicks").fetchone()[0])


def test_a_backup_finishes_while_another_connection_keeps_writing(
    busy_template: Path, tmp_path: Path
) -> None:
    live = tmp_path / "live.db"
    shutil.copyfile(busy_template, live)
    before = _clicks(live)
    copy = tmp_path / "copy.db"
    progress = io.StringIO()
    with _Writer(live) as writer:
        started = writer.commits
        result = backup(
            f"sqlite:///{live}", copy, timeout=60, progress=progress, progress_seconds=0.05
        )
        during = writer.commits - started
    assert during > 0  # the writer really wrote while the copy ran
    assert result.size == copy.stat().st_size
    assert before < _clicks(copy) <= _clicks(live)
    with contextlib.closing(sqlite3.connect(copy)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    lines = progress.getvalue().splitlines()
    assert lines[0].startswith(f"backing up {live} (about ")
    steps = re.compile(r"copied \d+ of about \d+ MB \(\d+%\), \d+ s so far|checking the copy.*")
    assert len(lines) > 1
    assert all(steps.fullmatch(line) for line in lines[1:]), lines
    assert not [path for path in tmp_path.iterdir() if "partial" in path.name]


def test_a_backup_that_runs_out_of_time_leaves_no_file(
    busy_template: Path, tmp_path: Path
) -> None:
    live = tmp_path / "live.db"
    shutil.copyfile(busy_template, live)
    copy = tmp_path / "copy.db"
    with _Writer(live), pytest.raises(BackupError, match=r"did not finish within 0\.01 s"):
        backup(f"sqlite:///{live}", copy, timeout=0.01)
    assert not copy.exists()
    assert not [path for path in tmp_path.iterdir() if "partial" in path.name]


def test_the_cli_backs_up_a_busy_database_with_progress_and_a_timeout(
    busy_template: Path, tmp_path: Path
) -> None:
    env = affbot_env(tmp_path)
    live = tmp_path / "bot.db"
    shutil.copyfile(busy_template, live)
    copy = tmp_path / "copy.db"
    command = [sys.executable, "-m", "bot", "db", "backup", "--timeout", "60", str(copy)]
    with _Writer(live):
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=90, check=False
        )
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(f"backing up {live} (about ")  # not a terminal: still said
    assert re.fullmatch(
        rf"backed up to {re.escape(str(copy))} \([\d,]+ bytes, checked, [\d.]+ s\)\n", done.stdout
    )
    bad = subprocess.run(
        [*command[:6], "0", str(tmp_path / "other.db")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "--timeout: expected a number of seconds above 0, got '0'" in bad.stderr
    timed_out = subprocess.run(
        [*command[:6], "0.001", str(tmp_path / "late.db")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert timed_out.returncode == 2
    assert timed_out.stderr.splitlines()[-1] == (
        "affbot: the backup did not finish within 0.001 s; nothing was written "
        "(try a longer --timeout)"
    )
    assert not (tmp_path / "late.db").exists()
