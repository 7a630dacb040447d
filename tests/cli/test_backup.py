"""Backup and restore: a consistent copy taken while conversions are being written."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.backup import BackupError, backup, restore
from bot.cli import main
from commands.tracking.conversions import TrackingRules, record_conversion
from storage import Database
from storage.migrate import upgrade
from storage.schema import conversion_events, conversions
from tests.conftest import Clock
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
        size = await asyncio.to_thread(backup, url, copy)
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
