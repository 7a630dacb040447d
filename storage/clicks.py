"""Clicks on referral links: written in batches, counted raw and unique.

The tracking server buffers clicks in memory and hands them here in batches; one batch is
one ``executemany`` in the caller's transaction, never a transaction per click. A unique
click is the first one per visitor (salted IP hash) per link per clock hour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.schema import clicks, links

SECONDS_PER_HOUR = 3600


def hour_bucket(at: datetime) -> int:
    """Whole hours since the epoch: the bucket that makes a click unique per hour."""
    return int(at.timestamp()) // SECONDS_PER_HOUR


@dataclass(frozen=True, slots=True)
class NewClick:
    """One click as the server saw it; ``ip_hash`` is salted, never the address itself."""

    click_id: str
    link_id: int
    occurred_at: datetime
    ip_hash: str
    user_agent_family: str
    referer_host: str | None


@dataclass(frozen=True, slots=True)
class ClickRef:
    """What a conversion needs from its click: the link it came through, and when."""

    click_id: str
    link_id: int
    affiliate_id: int
    program_id: int
    occurred_at: datetime


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
        """Insert a batch with one ``executemany``; returns how many rows were written."""
        if not batch:
            return 0
        rows = [
            {
                "click_id": click.click_id,
                "link_id": click.link_id,
                "occurred_at": click.occurred_at,
                "ip_hash": click.ip_hash,
                "user_agent_family": click.user_agent_family,
                "referer_host": click.referer_host,
                "hour_bucket": hour_bucket(click.occurred_at),
            }
            for click in batch
        ]
        await self._connection.execute(clicks.insert(), rows)
        return len(rows)

    async def by_click_id(self, click_id: str) -> ClickRef | None:
        """The click with this id and the link's affiliate and program, if it exists."""
        row = (
            await self._connection.execute(
                select(
                    clicks.c.click_id,
                    clicks.c.link_id,
                    clicks.c.occurred_at,
                    links.c.affiliate_id,
                    links.c.program_id,
                )
                .join(links, links.c.id == clicks.c.link_id)
                .where(clicks.c.click_id == click_id)
            )
        ).first()
        if row is None:
            return None
        return ClickRef(
            click_id=row.click_id,
            link_id=row.link_id,
            affiliate_id=row.affiliate_id,
            program_id=row.program_id,
            occurred_at=row.occurred_at,
        )

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

    async def visitors(self, link_id: int) -> int:
        """Distinct visitors (salted IP hashes) that clicked a link."""
        query = select(func.count(distinct(clicks.c.ip_hash))).where(clicks.c.link_id == link_id)
        return int((await self._connection.execute(query)).scalar_one())
