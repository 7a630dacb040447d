"""Clicks the database will never take: told apart from outages, counted, set aside.

A batch is one transaction, so one row the database refuses (a string it cannot encode, a
link that does not exist) used to fail the whole batch, which was then retried forever
while every later click queued behind it. ``BatchWriter`` now splits a batch that fails
because of its contents until the refusing rows stand alone, and sets those aside here.
Anything else (the connection dropped, the database is locked, no salt yet) is not the
rows' fault: the batch is kept and retried, so an outage loses nothing.

Only errors that depend on a row's values count as the row's fault; an unknown error
keeps the batch, because quarantining on a bug of ours would drop every click.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError

log = logging.getLogger(__name__)

REPORT_SECONDS = 60.0  # one log line per kind of refusal per minute, with a count
# The database (or its driver, or the address hashing before it) refused these values.
# On SQLite the click insert hands rows straight to the driver, so its classes count as
# well as SQLAlchemy's wrappers (asyncpg's errors arrive wrapped, with the driver's
# encoding errors as their cause); "database is locked" and lost connections are none.
_ROW_FAULTS: tuple[type[BaseException], ...] = (
    DataError,
    IntegrityError,
    sqlite3.IntegrityError,
    sqlite3.DataError,
    UnicodeError,
    ValueError,
    TypeError,
    OverflowError,
)


def row_fault(error: BaseException) -> str | None:
    """The kind of refusal when ``error`` was caused by the rows' values, else ``None``.

    The error, the driver error SQLAlchemy wrapped (``orig``) and what caused that are
    looked at; the kind is the innermost of them that is a row fault
    (``UnicodeEncodeError`` on both engines for undecodable text,
    ``ForeignKeyViolationError`` or ``IntegrityError`` for a missing link), so the metric
    and the log line say what the database disliked.
    """
    kind = None
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _ROW_FAULTS) or _refused_by_postgresql(current):
            kind = type(current).__name__
        original = getattr(current, "orig", None)
        current = original if isinstance(original, BaseException) else current.__cause__
    return kind


def _refused_by_postgresql(error: BaseException) -> bool:
    """SQLSTATE class 22 (data exception: a NUL byte, a value too long) or 23 (integrity
    constraint violation). SQLAlchemy wraps asyncpg's data exceptions as a plain
    ``DBAPIError``, so the driver's own error code is what tells them apart."""
    state = getattr(error, "sqlstate", None)
    return isinstance(state, str) and state[:2] in {"22", "23"}


class Quarantine:
    """Counts the rows set aside and logs each kind at most once per ``REPORT_SECONDS``.

    A flood of hostile requests makes the same refusal thousands of times a second; one
    line per kind per minute (with how many since the last line) keeps the log readable.
    No row's values are logged: they may carry a visitor's address or whatever bytes an
    attacker sent.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._reported_at: dict[str, float] = {}
        self._unreported: Counter[str] = Counter()

    def add(self, kind: str, row: Sequence[Any], error: BaseException) -> None:
        self._unreported[kind] += 1
        now = self._clock()
        last = self._reported_at.get(kind)
        if last is not None and now - last < REPORT_SECONDS:
            return
        self._reported_at[kind] = now
        count = self._unreported.pop(kind)
        log.error(
            "click %s (link %s) cannot be stored (%s: %s); set aside, %s of this kind "
            "since the last report, the rest of the batch is written",
            row[0],
            row[1],
            kind,
            _summary(error),
            count,
        )


def _summary(error: BaseException) -> str:
    """The error's first line without SQL parameters (they hold the row's values)."""
    original = getattr(error, "orig", None)
    text = str(original if isinstance(original, BaseException) else error)
    return text.splitlines()[0][:200] if text else type(error).__name__


def encode_counts(counts: Counter[str]) -> str:
    """``kind=count`` words for the click writer's acknowledgement line."""
    return " ".join(f"{kind}={count}" for kind, count in sorted(counts.items()))


def decode_counts(words: str) -> Counter[str]:
    """The inverse of ``encode_counts``; words that do not parse are ignored."""
    counts: Counter[str] = Counter()
    for word in words.split():
        kind, _, count = word.rpartition("=")
        if kind and count.isdigit():
            counts[kind] += int(count)
    return counts
