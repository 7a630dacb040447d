"""Program-level read models for manager reports: totals and per-customer histories."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.conversions import counted as counted_conversion
from storage.schema import clicks, conversions, links


@dataclass(frozen=True, slots=True)
class ProgramSummary:
    """A program's numbers over a period; money in minor units of the program currency."""

    program_id: int
    clicks: int
    conversions: int
    revenue_minor: int
    commission_minor: int
    reversed: int


@dataclass(frozen=True, slots=True)
class CustomerHistory:
    """One customer of one program, from the conversions that carry a ``customer_id``.

    ``referred`` says whether their first conversion came through an affiliate.
    """

    program_id: int
    customer_id: str
    first_at: datetime
    last_at: datetime
    conversions: int
    revenue_minor: int
    referred: bool


class ReportRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def summaries(
        self, program_ids: Sequence[int], start: datetime | None, end: datetime
    ) -> dict[int, ProgramSummary]:
        """Totals per program in ``[start, end)`` (programs with nothing are included)."""
        click_query = (
            select(links.c.program_id, func.count().label("n"))
            .select_from(clicks.join(links, links.c.id == clicks.c.link_id))
            .where(links.c.program_id.in_(program_ids))
            .where(clicks.c.occurred_at < end)
            .group_by(links.c.program_id)
        )
        counted = counted_conversion()
        reversed_ = conversions.c.status == "reversed"
        conversion_query = (
            select(
                conversions.c.program_id,
                func.coalesce(func.sum(case((counted, 1), else_=0)), 0).label("n"),
                func.coalesce(
                    func.sum(case((counted, conversions.c.amount_minor), else_=0)), 0
                ).label("revenue"),
                func.coalesce(
                    func.sum(
                        case(
                            (
                                and_(counted, conversions.c.over_cap.is_(False)),
                                conversions.c.commission_minor,
                            ),
                            else_=0,
                        )
                    ),
                    0,
                ).label("commission"),
                func.coalesce(func.sum(case((reversed_, 1), else_=0)), 0).label("reversed"),
            )
            .where(conversions.c.program_id.in_(program_ids))
            .where(conversions.c.affiliate_id.is_not(None))
            .where(conversions.c.occurred_at < end)
            .group_by(conversions.c.program_id)
        )
        if start is not None:
            click_query = click_query.where(clicks.c.occurred_at >= start)
            conversion_query = conversion_query.where(conversions.c.occurred_at >= start)
        click_counts = {
            row.program_id: int(row.n) for row in await self._connection.execute(click_query)
        }
        summaries = {
            program_id: ProgramSummary(program_id, click_counts.get(program_id, 0), 0, 0, 0, 0)
            for program_id in program_ids
        }
        for row in await self._connection.execute(conversion_query):
            summaries[row.program_id] = ProgramSummary(
                program_id=row.program_id,
                clicks=click_counts.get(row.program_id, 0),
                conversions=int(row.n),
                revenue_minor=int(row.revenue),
                commission_minor=int(row.commission),
                reversed=int(row.reversed),
            )
        return summaries

    async def customers(self, program_ids: Sequence[int], end: datetime) -> list[CustomerHistory]:
        """Every customer seen before ``end`` in these programs, with first and last purchase.

        Conversions without a ``customer_id`` cannot be followed over time and are left out;
        reversed ones never count, and a signup is not a purchase (the referred person's
        first sale makes them a customer).
        """
        first = func.min(conversions.c.occurred_at)
        first_referred = func.min(
            case((conversions.c.affiliate_id.is_not(None), conversions.c.occurred_at))
        )
        rows = await self._connection.execute(
            select(
                conversions.c.program_id,
                conversions.c.customer_id,
                first.label("first_at"),
                func.max(conversions.c.occurred_at).label("last_at"),
                first_referred.label("first_referred_at"),
                func.count().label("n"),
                func.coalesce(func.sum(conversions.c.amount_minor), 0).label("revenue"),
            )
            .where(conversions.c.program_id.in_(program_ids))
            .where(conversions.c.customer_id.is_not(None))
            .where(conversions.c.status != "reversed")
            .where(conversions.c.kind != "signup")
            .where(conversions.c.occurred_at < end)
            .group_by(conversions.c.program_id, conversions.c.customer_id)
            .order_by(conversions.c.program_id, conversions.c.customer_id)
        )
        histories = []
        for row in rows:
            first_at = _utc(row.first_at)
            first_referred_at = _utc(row.first_referred_at) if row.first_referred_at else None
            histories.append(
                CustomerHistory(
                    program_id=row.program_id,
                    customer_id=row.customer_id,
                    first_at=first_at,
                    last_at=_utc(row.last_at),
                    conversions=int(row.n),
                    revenue_minor=int(row.revenue),
                    referred=first_referred_at is not None and first_referred_at <= first_at,
                )
            )
        return histories


def _utc(value: Any) -> datetime:
    """Aggregates over a time column come back naive (or as text) on SQLite."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
