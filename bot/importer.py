"""``affbot import conversions FILE.csv``: a network's export, row by row, postback rules.

Each row goes through exactly what a postback goes through (field aliases, the program's
own mappings, validation, attribution, commission, caps, idempotency), in a transaction of
its own, so a rejected row never stops the others and re-running a file inserts nothing.
Postback authentication does not apply: whoever runs the command owns the database.
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TextIO

from commands.core.words import plural
from commands.tracking.conversions import TrackingRules, find_program, record_conversion
from commands.tracking.ip_hashes import instance_salt
from commands.tracking.postback_fields import (
    ConversionRejected,
    attribution_fields,
    normalise,
    postback_settings,
)
from storage import Database

log = logging.getLogger(__name__)

PROGRESS_WIDTH = 30
PROGRESS_EVERY_SECONDS = 0.2


@dataclass
class ImportSummary:
    inserted: int = 0
    updated: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.inserted + self.updated + self.duplicates + len(self.rejected)

    def report(self) -> str:
        """The summary people read at the end: counts, then every rejected row."""
        counts = (
            f"{self.inserted:,} inserted, {self.updated:,} updated, "
            f"{plural(self.duplicates, '{n} duplicate', '{n} duplicates')}, "
            f"{len(self.rejected):,} rejected"
        )
        lines = [plural(self.rows, "{n} row: {counts}", "{n} rows: {counts}", counts=counts)]
        lines += [f"  line {line}: {reason}" for line, reason in self.rejected]
        return "\n".join(lines)


class ProgressBar:
    """A one-line bar redrawn in place (``\\r``), at most every 0.2 s."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self._stream = stream
        self._total = max(total, 1)
        self._last = 0.0

    def update(self, done: int, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < PROGRESS_EVERY_SECONDS:
            return
        self._last = now
        if final:  # blank lines were estimated as rows; the end is the end
            self._total = max(done, 1)
        filled = PROGRESS_WIDTH * done // self._total
        bar = "#" * filled + "." * (PROGRESS_WIDTH - filled)
        self._stream.write(
            plural(
                self._total,
                "\r[{bar}] {done}/{n} row",
                "\r[{bar}] {done}/{n} rows",
                bar=bar,
                done=f"{done:,}",
            )
        )
        if final:
            self._stream.write("\n")
        self._stream.flush()


async def import_conversions(
    database: Database,
    path: Path,
    *,
    program: str | None,
    rules: TrackingRules,
    clock: Callable[[], datetime],
    progress: TextIO | None = None,
    ip_hash_salt: str | None = None,
) -> ImportSummary:
    """Record every row of a CSV file; see the module docstring for the rules.

    Args:
        program: the program's slug for files without a ``program`` column (it also
            overrides one).
        progress: where to draw a progress bar (a terminal), or ``None``.
        ip_hash_salt: the configured ``tracking.ip_hash_salt``, if any; without it the
            instance's stored salt is used, as the tracking server does, so a customer IP
            in the file hashes exactly as one in a postback.

    Raises:
        OSError: the file cannot be read.
    """
    rules = replace(rules, ip_salt=await instance_salt(database, ip_hash_salt, now=clock()))
    summary = ImportSummary()
    total = _count_rows(path) if progress is not None else 0
    bar = ProgressBar(progress, total) if progress is not None else None
    for line, raw in _rows(path):
        try:
            if isinstance(raw, str):
                raise ConversionRejected("row", raw)
            located = attribution_fields(raw)
            if program is not None:
                # Through the same field rules as the file's own column.
                located.update(attribution_fields({"program": program}))
            found = await find_program(database, located)
            fields = normalise(raw, postback_settings(found).get("fields") or {})
            outcome = await record_conversion(
                database, found, fields, now=clock(), rules=rules, source="import"
            )
        except ConversionRejected as rejected:
            summary.rejected.append((line, f"{rejected.field}: {rejected.message}"))
        except Exception:
            log.exception("import: line %s failed", line)
            summary.rejected.append((line, "internal error (see the log); nothing recorded"))
        else:
            if outcome.result == "inserted":
                summary.inserted += 1
            elif outcome.result == "updated":
                summary.updated += 1
            else:
                summary.duplicates += 1
        if bar is not None:
            bar.update(summary.rows)
    if bar is not None:
        bar.update(summary.rows, final=True)
    return summary


DELIMITERS = (",", ";", "\t")
# A cell of a real export is a few hundred characters at most; csv's own limit (128 KiB)
# is kept, and a longer one is a rejected row rather than a stopped import.
Row = dict[str, str] | str  # the row's fields, or why the row cannot be read


def _rows(path: Path) -> Iterator[tuple[int, Row]]:
    """(line number, row or the reason it was rejected) pairs, for any bytes at all.

    ``utf-8-sig`` drops the BOM spreadsheets write; bytes that are not UTF-8 are kept as
    surrogates, so the row holding them is refused by the field rules (naming the field),
    not the whole file by the decoder. The dialect is Excel's with the delimiter read from
    the header line alone (:func:`header_delimiter`): guessing from the rows as well, as
    ``csv.Sniffer`` does, let a quoted ``\r`` in a cell decide how rows were split.
    """
    with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
        delimiter = header_delimiter(handle.readline())
        handle.seek(0)
        reader = csv.DictReader(handle, delimiter=delimiter, dialect=csv.excel)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield reader.line_num, f"this line is not CSV the importer can read ({error})"
                continue
            clean = {
                key: value
                for key, value in row.items()
                if isinstance(key, str) and isinstance(value, str)
            }
            if any(value.strip() for value in clean.values()):
                yield reader.line_num, clean


def header_delimiter(header: str) -> str:
    """The delimiter that splits the header line into the most columns (``,`` on a tie,
    then ``;``, then tab); a one-column header is read with ``,``."""
    best, columns = DELIMITERS[0], 1
    for delimiter in DELIMITERS:
        try:
            count = len(next(csv.reader([header], dialect=csv.excel, delimiter=delimiter), []))
        except csv.Error:
            continue
        if count > columns:
            best, columns = delimiter, count
    return best


def _count_rows(path: Path) -> int:
    """Lines after the header, for the progress bar (counted as bytes: any file works)."""
    with path.open("rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)
