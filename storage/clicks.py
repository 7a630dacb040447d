"""Clicks on referral links: written in batches, counted raw and unique.

The tracking server buffers clicks in memory and hands them here in batches; one batch is
one ``executemany`` in the caller's transaction, never a transaction per click. A unique
click is the first one per visitor (salted IP hash) per link per clock hour.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import from_row
from storage.schema import clicks, links

SECONDS_PER_HOUR = 3600
MICROS_PER_SECOND = 1_000_000
MICROS_PER_HOUR = SECONDS_PER_HOUR * MICROS_PER_SECOND
CHUNK_ROWS = 100  # one await per 100 rows keeps event-loop pauses well under a millisecond
KNOWN_CHUNK = 500  # click ids per lookup, under SQLite's bound-parameter limit
PG_CHUNK_ROWS = 500  # per array insert: 100 cost PostgreSQL a fifth more per click
_CLICK_COLUMNS = (
    "click_id",
    "link_id",
    "occurred_at",
    "ip_hash",
    "user_agent_family",
    "referer_host",
    "hour_bucket",
    "net_hash",
)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# Seeded from the OS once: a click id is an identifier, not a secret (postbacks carry
# their own authentication), and a system call per click costs more than the rest of it.
_random = random.Random(secrets.randbits(256))  # noqa: S311


def new_click_id() -> str:
    """32 hex characters: 48 bits of microsecond clock, then 80 random bits.

    Unguessable enough for a click, and time-ordered, so inserts append to the end of the
    unique index instead of landing on random pages (a third cheaper on SQLite).
    """
    return f"{(time.time_ns() // 1000 & 0xFFFFFFFFFFFF) << 80 | _random.getrandbits(80):032x}"


def micros_of(at: datetime) -> int:
    """An aware time as integer microseconds since the epoch: exact, and cheap to carry."""
    if at.tzinfo is None:
        raise ValueError("naive datetime given to storage; use an aware UTC time")
    return (at - _EPOCH) // _MICROSECOND


def time_of(micros: int) -> datetime:
    """The aware UTC time ``micros_of`` made."""
    return _EPOCH + timedelta(microseconds=micros)


class NewClick(NamedTuple):
    """One click as the server saw it; ``ip_hash`` is salted, never the address itself.

    A named tuple with the time as integer microseconds: the click writer makes one per
    click, and a frozen dataclass with a ``datetime`` cost it several times as much per
    click, in the process that competes with the server for the machine's cores.
    """

    click_id: str
    link_id: int
    micros: int  # when, as microseconds since the epoch (``micros_of``)
    ip_hash: str
    user_agent_family: str
    referer_host: str | None
    net_hash: str | None = None  # salted hash of the visitor's /24 (or IPv6 /48)

    @property
    def occurred_at(self) -> datetime:
        return time_of(self.micros)


def new_click(
    *,
    click_id: str,
    link_id: int,
    occurred_at: datetime,
    ip_hash: str,
    user_agent_family: str,
    referer_host: str | None,
    net_hash: str | None = None,
) -> NewClick:
    """A ``NewClick`` from an aware time (for callers off the hot path)."""
    return NewClick(
        click_id,
        link_id,
        micros_of(occurred_at),
        ip_hash,
        user_agent_family,
        referer_host,
        net_hash,
    )


@dataclass(frozen=True, slots=True)
class ClickRef:
    """What a conversion needs from its click: the link it came through, when, and the
    visitor's salted IP hash (for self-referral by IP)."""

    click_id: str
    link_id: int
    affiliate_id: int
    program_id: int
    occurred_at: datetime
    ip_hash: str = ""


@dataclass(frozen=True, slots=True)
class ClickCounts:
    """One affiliate's clicks in one program over a range: every click, and unique ones."""

    program_id: int
    raw: int
    unique: int


class ClickRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add_many(self, batch: Sequence[NewClick]) -> int:
        """Insert a batch in the caller's transaction; returns how many clicks it
        inserted.

        A click whose ``click_id`` is already stored is skipped, not an error: batches can
        be resent after a click writer process died before acknowledging them. A count
        short of the batch tells the caller so; ``known`` then says which (asking every
        insert to return its ids cost SQLite a tenth more per click, for a rare case).

        This is the one hot write path, so it skips Core's per-row parameter processing
        and hands plain values to the driver, a chunk of rows per statement; each chunk
        is an await, so the event loop keeps answering redirects during a large batch.
        On SQLite a chunk is one multi-row ``INSERT … VALUES (…), (…)``: ``executemany``
        there releases and retakes the GIL around every row, and each retake can stall the
        event loop's thread (GIL convoy), which halved redirect throughput in the
        benchmark. On PostgreSQL a chunk is one insert from ``unnest`` of column arrays.
        Times are stored exactly as ``UtcDateTime`` stores them on each engine.
        """
        if self._connection.dialect.name == "sqlite":
            # Straight to aiosqlite, inside the transaction SQLAlchemy began on this very
            # connection: one thread hop per chunk instead of three (cursor, execute, close).
            raw = await self._connection.get_raw_connection()
            driver = raw.driver_connection
            if driver is None:  # pragma: no cover - a checked-out connection has one
                raise RuntimeError("the SQLite connection has no driver connection")
            seconds = _SqliteSeconds()
            inserted = 0
            for start in range(0, len(batch), CHUNK_ROWS):
                chunk = batch[start : start + CHUNK_ROWS]
                values: list[object] = []
                for click_id, link_id, micros, ip_hash, agent, referer, net_hash in chunk:
                    second, fraction = divmod(micros, MICROS_PER_SECOND)
                    values += (
                        click_id,
                        link_id,
                        f"{seconds[second]}.{fraction:06d}",
                        ip_hash,
                        agent,
                        referer,
                        micros // MICROS_PER_HOUR,
                        net_hash,
                    )
                cursor = await driver.execute(_sqlite_insert(len(chunk)), values)
                inserted += cursor.rowcount
            return inserted
        inserted = 0
        for start in range(0, len(batch), PG_CHUNK_ROWS):
            chunk = batch[start : start + PG_CHUNK_ROWS]
            click_ids, link_ids, stamps, ip_hashes, agents, referers, net_hashes = zip(
                *chunk, strict=True
            )
            columns = (
                click_ids,
                link_ids,
                [time_of(at) for at in stamps],
                ip_hashes,
                agents,
                referers,
                [at // MICROS_PER_HOUR for at in stamps],
                net_hashes,
            )
            result = await self._connection.exec_driver_sql(_PG_INSERT, columns)
            inserted += result.rowcount
        return inserted

    async def known(self, click_ids: Iterable[str]) -> set[str]:
        """Which of these click ids are stored already."""
        wanted = list(click_ids)
        found: set[str] = set()
        for start in range(0, len(wanted), KNOWN_CHUNK):
            chunk = wanted[start : start + KNOWN_CHUNK]
            rows = await self._connection.execute(
                select(clicks.c.click_id).where(clicks.c.click_id.in_(chunk))
            )
            found.update(rows.scalars())
        return found

    async def by_click_id(self, click_id: str) -> ClickRef | None:
        """The click with this id and the link's affiliate and program, if it exists."""
        row = (
            await self._connection.execute(
                select(
                    clicks.c.click_id,
                    clicks.c.link_id,
                    clicks.c.occurred_at,
                    clicks.c.ip_hash,
                    links.c.affiliate_id,
                    links.c.program_id,
                )
                .join(links, links.c.id == clicks.c.link_id)
                .where(clicks.c.click_id == click_id)
            )
        ).first()
        if row is None:
            return None
        return from_row(ClickRef, row)

    async def counts_for_affiliate(
        self, affiliate_id: int, start: datetime | None, end: datetime
    ) -> list[ClickCounts]:
        """Raw and unique clicks per program for ``start <= occurred_at < end``.

        Args:
            affiliate_id: whose links to count.
            start: the range start, or ``None`` for since ever.
            end: the range end (exclusive).
        """
        conditions = [links.c.affiliate_id == affiliate_id, clicks.c.occurred_at < end]
        if start is not None:
            conditions.append(clicks.c.occurred_at >= start)
        joined = clicks.join(links, links.c.id == clicks.c.link_id)
        raw_rows = await self._connection.execute(
            select(links.c.program_id, func.count())
            .select_from(joined)
            .where(and_(*conditions))
            .group_by(links.c.program_id)
        )
        raw: dict[int, int] = {row[0]: row[1] for row in raw_rows}
        visits = (
            select(links.c.program_id, clicks.c.link_id, clicks.c.ip_hash, clicks.c.hour_bucket)
            .select_from(joined)
            .where(and_(*conditions))
            .distinct()
            .subquery()
        )
        unique_rows = await self._connection.execute(
            select(visits.c.program_id, func.count()).group_by(visits.c.program_id)
        )
        unique: dict[int, int] = {row[0]: row[1] for row in unique_rows}
        return [
            ClickCounts(program_id=program_id, raw=count, unique=unique.get(program_id, 0))
            for program_id, count in sorted(raw.items())
        ]

    async def count(self, *, link_id: int | None = None) -> int:
        """How many clicks are stored (for one link, or all): used by checks and the bench."""
        query = select(func.count()).select_from(clicks)
        if link_id is not None:
            query = query.where(clicks.c.link_id == link_id)
        return int((await self._connection.execute(query)).scalar_one())


_COLUMN_LIST = ", ".join(_CLICK_COLUMNS)
# A click writer process that dies after committing a batch but before acknowledging it
# gets the batch again from the server; the resend must neither fail nor count twice.
# Aimed at click_id alone (not SQLite's INSERT OR IGNORE), so a NOT NULL or foreign key
# violation still fails the batch loudly.
_SKIP_DUPLICATES = " ON CONFLICT (click_id) DO NOTHING"
# One statement per chunk, its columns as arrays: PostgreSQL plans and runs it once,
# where ``executemany`` runs the insert once per row (a third less of the server's time
# per click, measured with 2000-click batches).
_PG_INSERT = (
    f"INSERT INTO clicks ({_COLUMN_LIST}) SELECT * FROM unnest("  # noqa: S608 - constants
    "$1::varchar[], $2::bigint[], $3::timestamptz[], $4::varchar[], $5::varchar[], "
    "$6::varchar[], $7::integer[], $8::varchar[])"
    f"{_SKIP_DUPLICATES}"
)


@lru_cache(maxsize=8)
def _sqlite_insert(rows: int) -> str:
    row = "(" + ", ".join("?" for _ in _CLICK_COLUMNS) + ")"
    return (
        f"INSERT INTO clicks ({_COLUMN_LIST}) VALUES "  # noqa: S608 - constant names only
        + ", ".join([row] * rows)
        + _SKIP_DUPLICATES
    )


class _SqliteSeconds(dict[int, str]):
    """Whole seconds since the epoch as the text SQLAlchemy's SQLite ``DATETIME`` stores
    for ``UtcDateTime`` (naive UTC), made once per second a batch spans: formatting a
    ``datetime`` per click cost more than SQLite's insert of it."""

    def __missing__(self, second: int) -> str:
        text = self[second] = time_of(second * MICROS_PER_SECOND).strftime("%Y-%m-%d %H:%M:%S")
        return text
