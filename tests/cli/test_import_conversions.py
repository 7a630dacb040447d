"""CSV import: postback rules per row, a summary with line numbers, idempotent re-runs."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from bot.cli import main
from bot.importer import ImportSummary, ProgressBar, import_conversions
from commands.tracking.conversions import TrackingRules
from storage import Database
from tests.conftest import Clock
from tests.tracking_support import seed


def write_csv(path: Path, code: str, *, dated: bool = True) -> Path:
    """A network export; undated rows happen "now" (the CLI runs on the real clock)."""
    first, second = ("2026-11-17T10:00:00Z", "2026-11-17T11:00:00Z") if dated else ("", "")
    path.write_text(
        "\ufefforder_id,ref,sale_amount,status,occurred_at\n"
        f"O-1,{code},10.00,pending,{first}\n"
        f"O-2,{code},20.00,approved,{second}\n"
        f"O-1,{code},10.00,approved,\n"
        f"O-2,{code},20.00,approved,\n"
        f"O-3,{code},-5,pending,\n"
        f"O-4,nocode,5,pending,\n"
        ",,,,\n"
        f",{code},5,pending,\n"
        f"O-5,{code},5,maybe,\n",
        encoding="utf-8",
    )
    return path


async def test_rows_follow_postback_rules_and_rerun_inserts_nothing(
    database: Database, clock: Clock, tmp_path: Path
) -> None:
    seeded = await seed(database)
    path = write_csv(tmp_path / "export.csv", seeded.link.code)
    progress = io.StringIO()
    summary = await import_conversions(
        database, path, program="shop", rules=TrackingRules(), clock=clock, progress=progress
    )
    assert (summary.inserted, summary.updated, summary.duplicates) == (2, 1, 1)
    assert [line for line, _ in summary.rejected] == [6, 7, 9, 10]
    reasons = dict(summary.rejected)
    assert reasons[6].startswith("amount:")
    assert reasons[7].startswith("code:")
    assert reasons[9].startswith("txn_id:")
    assert reasons[10].startswith("status:")
    report = summary.report()
    assert report.startswith("8 rows: 2 inserted, 1 updated, 1 duplicate, 4 rejected")
    assert "  line 7: code: unknown referral code" in report
    assert progress.getvalue().endswith(f"[{'#' * 30}] 8/8 rows\n")
    async with database.read() as store:
        assert await store.conversions.count() == 2
        first = await store.conversions.by_txn(seeded.program.id, "O-1")
    assert first is not None
    assert first.status == "approved"
    again = await import_conversions(
        database, path, program="shop", rules=TrackingRules(), clock=clock
    )
    assert (again.inserted, again.updated, again.duplicates, len(again.rejected)) == (0, 0, 4, 4)
    async with database.read() as store:
        assert await store.conversions.count() == 2


def test_cli_prints_the_summary_and_exits_1_on_rejected_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'affbot.db'}"
    monkeypatch.setenv("AFFBOT_DATABASE__URL", url)
    monkeypatch.delenv("AFFBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["db", "upgrade"]) == 0

    async def seeded_code() -> str:
        database = Database.connect(url)
        try:
            return (await seed(database)).link.code
        finally:
            await database.close()

    csv_path = write_csv(tmp_path / "export.csv", asyncio.run(seeded_code()), dated=False)
    capsys.readouterr()
    assert main(["import", "conversions", str(csv_path), "--program", "shop"]) == 1
    out = capsys.readouterr().out
    assert "8 rows: 2 inserted, 1 updated, 1 duplicate, 4 rejected" in out
    assert "line 6: amount: amount cannot be negative" in out
    assert main(["import", "conversions", str(csv_path)]) == 1  # program found by code
    assert "0 inserted, 0 updated, 4 duplicates, 4 rejected" in capsys.readouterr().out
    assert main(["import", "conversions", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_one_row_reads_one_row_and_one_duplicate() -> None:
    summary = ImportSummary(duplicates=1)
    assert summary.report() == "1 row: 0 inserted, 0 updated, 1 duplicate, 0 rejected"
    bigger = ImportSummary(inserted=1200, duplicates=2)
    assert bigger.report() == "1,202 rows: 1,200 inserted, 0 updated, 2 duplicates, 0 rejected"
    progress = io.StringIO()
    ProgressBar(progress, 1).update(1, final=True)
    assert progress.getvalue() == f"\r[{'#' * 30}] 1/1 row\n"
