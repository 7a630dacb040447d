"""Read models for stats: clicks and conversions per affiliate and program over a period."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import from_row
from storage.conversions import counted
from storage.schema import (
    affiliates,
    caps,
    clicks,
    conversion_events,
    conversions,
    links,
    programs,
)


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


@dataclass(frozen=True, slots=True)
class Standing:
    """One affiliate's value for a leaderboard metric (count or minor units)."""

    affiliate_id: int
    value: int


@dataclass(frozen=True, slots=True)
class CapInForce:
    id: int
    program_id: int
    scope: str  # "program" or "affiliate" (each affiliate has the limit)
    metric: str  # "conversions" or "commission" (minor units)
    period: str  # "day", "week", "month" or "all"
    limit_value: int
    action: str


RANKING_METRICS = ("conversions", "revenue", "commission", "clicks")


class PerformanceReadModel:
    """Aggregate reads shared by leaderboards, stats, reports and caps (mixed into the
    repository below so one ``store.performance`` serves them all)."""

    _connection: AsyncConnection

    async def conversion_records(
        self,
        start: datetime | None,
        end: datetime,
        program_ids: Sequence[int] | None = None,
    ) -> list[ConversionRecord]:
        """Conversions in ``[start, end)``, oldest first (for CSV exports)."""
        return await _conversion_records(self._connection, start, end, program_ids)

    async def ranking(
        self,
        metric: str,
        start: datetime | None,
        end: datetime,
        *,
        program_ids: Sequence[int] | None = None,
    ) -> list[Standing]:
        """Every active affiliate with a non-zero ``metric`` in ``[start, end)``, best first.

        Only :func:`storage.conversions.counted` conversions count (no reversed ones, no
        unqualified signups); over-cap ones count as conversions and revenue but earn no
        commission. Ties keep a stable order (lower affiliate id first).
        """
        if metric not in RANKING_METRICS:
            raise ValueError(f"unknown ranking metric {metric!r}")
        if metric == "clicks":
            value = func.count()
            query = select(links.c.affiliate_id.label("affiliate_id"), value.label("value"))
            query = query.select_from(
                clicks.join(links, links.c.id == clicks.c.link_id).join(
                    affiliates, affiliates.c.id == links.c.affiliate_id
                )
            ).where(clicks.c.occurred_at < end)
            if start is not None:
                query = query.where(clicks.c.occurred_at >= start)
            if program_ids is not None:
                query = query.where(links.c.program_id.in_(program_ids))
            query = query.group_by(links.c.affiliate_id)
        else:
            measure = {
                "conversions": func.count(),
                "revenue": func.coalesce(func.sum(conversions.c.amount_minor), 0),
                "commission": func.coalesce(
                    func.sum(
                        case(
                            (conversions.c.over_cap.is_(False), conversions.c.commission_minor),
                            else_=0,
                        )
                    ),
                    0,
                ),
            }[metric]
            query = (
                select(conversions.c.affiliate_id.label("affiliate_id"), measure.label("value"))
                .select_from(
                    conversions.join(affiliates, affiliates.c.id == conversions.c.affiliate_id)
                )
                .where(counted())
                .where(conversions.c.occurred_at < end)
            )
            if start is not None:
                query = query.where(conversions.c.occurred_at >= start)
            if program_ids is not None:
                query = query.where(conversions.c.program_id.in_(program_ids))
            query = query.group_by(conversions.c.affiliate_id)
        query = query.where(affiliates.c.status == "active")
        rows = await self._connection.execute(query)
        standings = [Standing(int(row.affiliate_id), int(row.value)) for row in rows]
        standings = [standing for standing in standings if standing.value > 0]
        standings.sort(key=lambda standing: (-standing.value, standing.affiliate_id))
        return standings

    async def caps_in_force(self, program_ids: Sequence[int], at: datetime) -> list[CapInForce]:
        """Caps that apply at ``at`` to these programs (the tracking rules own writing them)."""
        if not program_ids:
            return []
        rows = await self._connection.execute(
            select(caps)
            .where(caps.c.program_id.in_(program_ids))
            .where(caps.c.effective_from <= at)
            .where(or_(caps.c.ended_at.is_(None), caps.c.ended_at > at))
            .order_by(caps.c.program_id, caps.c.id)
        )
        return [from_row(CapInForce, row) for row in rows]

    async def cap_usage(
        self,
        cap: CapInForce,
        start: datetime | None,
        end: datetime,
        *,
        affiliate_id: int | None = None,
    ) -> int:
        """How much of ``cap`` is used in ``[start, end)``: conversions or commission.

        Only affiliate conversions count (a direct sale earns nobody commission). Conversions
        beyond the cap (``over_cap``) do not use it up; reversed ones free it.
        """
        measure = (
            func.count()
            if cap.metric == "conversions"
            else func.coalesce(func.sum(conversions.c.commission_minor), 0)
        )
        query = (
            select(measure)
            .where(conversions.c.program_id == cap.program_id)
            .where(conversions.c.affiliate_id.is_not(None))
            .where(counted())
            .where(conversions.c.over_cap.is_(False))
            .where(conversions.c.occurred_at < end)
        )
        if start is not None:
            query = query.where(conversions.c.occurred_at >= start)
        if affiliate_id is not None:
            query = query.where(conversions.c.affiliate_id == affiliate_id)
        return int((await self._connection.execute(query)).scalar_one())


class PerformanceRepository(PerformanceReadModel):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def approvals(self, start: datetime, end: datetime, *, notices: str) -> list[Approvals]:
        """See :func:`approvals_between` (the daily commission digest reads it)."""
        return await approvals_between(self._connection, start, end, notices=notices)

    async def affiliate_totals(
        self, affiliate_id: int, start: datetime | None, end: datetime
    ) -> list[ProgramTotals]:
        """Totals per program for ``start <= time < end`` (``start=None``: since ever).

        Only :func:`storage.conversions.counted` conversions count; over-cap ones count as
        conversions but earn no commission.
        """
        click_filter = [links.c.affiliate_id == affiliate_id, clicks.c.occurred_at < end]
        conversion_filter = [
            conversions.c.affiliate_id == affiliate_id,
            conversions.c.occurred_at < end,
            counted(),
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
        click_counts: dict[int, int] = {row[0]: row[1] for row in click_rows}
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


@dataclass(frozen=True, slots=True)
class Approvals:
    """Commission one affiliate had approved in one program over a stretch of time."""

    affiliate_id: int
    program_name: str
    currency: str
    conversions: int
    commission_minor: int


async def approvals_between(
    connection: AsyncConnection, start: datetime, end: datetime, *, notices: str
) -> list[Approvals]:
    """Approvals recorded in ``[start, end)`` that earned something, per affiliate and
    program, for active affiliates whose ``conversion_notices`` setting is ``notices``."""
    query = (
        select(
            conversions.c.affiliate_id,
            programs.c.name,
            conversions.c.currency,
            func.count().label("n"),
            func.sum(conversion_events.c.commission_delta_minor).label("commission"),
        )
        .select_from(conversion_events)
        .join(conversions, conversions.c.id == conversion_events.c.conversion_id)
        .join(programs, programs.c.id == conversions.c.program_id)
        .join(affiliates, affiliates.c.id == conversions.c.affiliate_id)
        .where(conversion_events.c.status == "approved")
        .where(conversion_events.c.commission_delta_minor > 0)
        .where(conversion_events.c.occurred_at >= start)
        .where(conversion_events.c.occurred_at < end)
        .where(affiliates.c.status == "active")
        .where(affiliates.c.conversion_notices == notices)
        .group_by(conversions.c.affiliate_id, programs.c.name, conversions.c.currency)
        .order_by(conversions.c.affiliate_id, programs.c.name)
    )
    return [
        Approvals(row.affiliate_id, row.name, row.currency, row.n, int(row.commission))
        for row in await connection.execute(query)
    ]


@dataclass(frozen=True, slots=True)
class ConversionRecord:
    """One conversion as exported for spreadsheets; money in minor units."""

    id: int
    program_slug: str
    affiliate_id: int | None
    txn_id: str
    kind: str
    amount_minor: int
    currency: str
    commission_minor: int
    status: str
    over_cap: bool
    customer_id: str | None
    occurred_at: datetime
    # Reported while the affiliate was suspended (commission 0), and whether the affiliate
    # is suspended now (their approved commission is withheld).
    while_suspended: bool
    affiliate_suspended: bool
    campaign: str = ""  # the campaign of the link that brought it ("" for the plain link)


async def _conversion_records(
    connection: AsyncConnection,
    start: datetime | None,
    end: datetime,
    program_ids: Sequence[int] | None = None,
) -> list[ConversionRecord]:
    """Conversions in ``[start, end)``, oldest first (for ``affbot export conversions``)."""
    query = (
        select(
            conversions,
            programs.c.slug.label("program_slug"),
            case((affiliates.c.status == "suspended", True), else_=False).label(
                "affiliate_suspended"
            ),
            func.coalesce(links.c.campaign, "").label("campaign"),
        )
        .join(programs, programs.c.id == conversions.c.program_id)
        .outerjoin(links, links.c.id == conversions.c.link_id)
        .outerjoin(affiliates, affiliates.c.id == conversions.c.affiliate_id)
        .where(conversions.c.occurred_at < end)
        .order_by(conversions.c.occurred_at, conversions.c.id)
    )
    if start is not None:
        query = query.where(conversions.c.occurred_at >= start)
    if program_ids is not None:
        query = query.where(conversions.c.program_id.in_(program_ids))
    return [from_row(ConversionRecord, row) for row in await connection.execute(query)]
