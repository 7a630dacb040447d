"""Read models for stats: clicks and conversions per affiliate and program over a period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.schema import clicks, conversions, links, programs


@dataclass(frozen=True, slots=True)
class ProgramTotals:
    """One affiliate's numbers in one program; money in minor units of ``currency``."""

    program_id: int
    program_slug: str
    currency: str
    clicks: int
    conversions: int
    revenue_minor: int
    commission_pending_minor: int
    commission_approved_minor: int


class PerformanceRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def affiliate_totals(
        self, affiliate_id: int, start: datetime | None, end: datetime
    ) -> list[ProgramTotals]:
        """Totals per program for ``start <= time < end`` (``start=None``: since ever).

        Reversed conversions count for nothing; over-cap ones count as conversions but
        earn no commission.
        """
        click_filter = [links.c.affiliate_id == affiliate_id, clicks.c.occurred_at < end]
        conversion_filter = [
            conversions.c.affiliate_id == affiliate_id,
            conversions.c.occurred_at < end,
            conversions.c.status != "reversed",
        ]
        if start is not None:
            click_filter.append(clicks.c.occurred_at >= start)
            conversion_filter.append(conversions.c.occurred_at >= start)
        click_rows = await self._connection.execute(
            select(links.c.program_id, func.count())
            .select_from(clicks.join(links, links.c.id == clicks.c.link_id))
            .where(and_(*click_filter))
            .group_by(links.c.program_id)
        )
        click_counts: dict[int, int] = dict(click_rows.all())
        earning = conversions.c.over_cap.is_(False)
        conversion_rows = {
            row.program_id: row
            for row in await self._connection.execute(
                select(
                    conversions.c.program_id,
                    func.count().label("n"),
                    func.coalesce(func.sum(conversions.c.amount_minor), 0).label("revenue"),
                    func.coalesce(
                        func.sum(
                            case(
                                (
                                    and_(earning, conversions.c.status == "pending"),
                                    conversions.c.commission_minor,
                                ),
                                else_=0,
                            )
                        ),
                        0,
                    ).label("pending"),
                    func.coalesce(
                        func.sum(
                            case(
                                (
                                    and_(earning, conversions.c.status.in_(("approved", "paid"))),
                                    conversions.c.commission_minor,
                                ),
                                else_=0,
                            )
                        ),
                        0,
                    ).label("approved"),
                )
                .where(and_(*conversion_filter))
                .group_by(conversions.c.program_id)
            )
        }
        program_rows = await self._connection.execute(
            select(programs.c.id, programs.c.slug, programs.c.currency)
            .where(programs.c.id.in_(set(click_counts) | set(conversion_rows)))
            .order_by(programs.c.slug)
        )
        totals = []
        for program in program_rows:
            row = conversion_rows.get(program.id)
            totals.append(
                ProgramTotals(
                    program_id=program.id,
                    program_slug=program.slug,
                    currency=program.currency,
                    clicks=click_counts.get(program.id, 0),
                    conversions=row.n if row else 0,
                    revenue_minor=int(row.revenue) if row else 0,
                    commission_pending_minor=int(row.pending) if row else 0,
                    commission_approved_minor=int(row.approved) if row else 0,
                )
            )
        return totals
