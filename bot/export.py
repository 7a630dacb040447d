"""``affbot export``: payouts due, conversions or a leaderboard as CSV."""

from __future__ import annotations

import csv
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import TextIO

from bot.app import open_core, utc_now
from bot.config import Config
from commands.core.errors import CommandError
from commands.core.reply import Table
from commands.reporting.export import export_table

# Spreadsheets run a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")


async def run_export(
    config: Config,
    what: str,
    *,
    period: str,
    program: str | None,
    metric: str,
    output: Path | None,
    stdout: TextIO | None = None,
    now: datetime | None = None,
) -> int:
    """Write one export; returns the exit status (2 for an unknown program)."""
    async with open_core(config) as core:
        try:
            table = await export_table(
                core.database,
                what,
                now=now or utc_now(),
                zone=config.zone,
                period=period,
                program=program,
                metric=metric,
            )
        except CommandError as error:
            print(f"affbot: {error}", file=sys.stderr)  # noqa: T201
            return 2
    if output is None:
        write_csv(table, stdout or sys.stdout)
    else:
        try:
            with output.open("w", encoding="utf-8", newline="") as handle:
                write_csv(table, handle)
        except OSError as error:
            print(f"affbot: {output}: cannot be written: {error.strerror}", file=sys.stderr)  # noqa: T201
            return 2
    return 0


def write_csv(table: Table, handle: TextIO) -> None:
    """RFC 4180 CSV with a header row; text cells that would run as a formula in a
    spreadsheet get a leading apostrophe (numbers, negative ones included, stay numbers)."""
    writer = csv.writer(handle)
    writer.writerow(table.headers)
    for row in table.rows:
        writer.writerow([inert(cell) for cell in row])


def inert(cell: str) -> str:
    """``=HYPERLINK(…)`` → ``'=HYPERLINK(…)``; ``-12.50`` stays as it is."""
    if cell.startswith(_FORMULA_START) and not _NUMBER.match(cell):
        return f"'{cell}"
    return cell
