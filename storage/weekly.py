"""Read models for the weekly leaderboard post and private feedback, and archived seasons.

Every query here covers *all* affiliates of a period at once (a handful of grouped
statements per broadcast, never one query per affiliate), so a weekly run over thousands
of affiliates stays a few round trips. Counting rules match ``/stats``: reversed
conversions count for nothing; over-cap ones count as conversions but earn no commission.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import from_row, insert_ignoring_conflicts
from storage.conversions import counted
from storage.schema import (
    affiliates,
    clicks,
    conversions,
    identities,
    leaderboard_seasons,
    links,
    programs,
)


@dataclass(frozen=True, slots=True)
class PeriodTotals:
    """One affiliate's numbers in one program for a period; money in minor units."""

    affiliate_id: int
    program_id: int
    program_slug: str
    currency: str
    clicks: int
    conversions: int
    commission_pending_minor: int
    commission_approved_minor: int


@dataclass(frozen=True, slots=True)
class Recipient:
    """An active affiliate who wants feedback, and the accounts to reach them on."""

    affiliate_id: int
    display_name: str
    timezone: str | None
    accounts: tuple[tuple[str, str], ...]  # (platform, platform user id)


@dataclass(frozen=True, slots=True)
class Season:
    """A posted leaderboard, frozen as it was posted."""

    period_key: str
    scope: str
    period_start: datetime
    period_end: datetime
    entries: list[dict[str, Any]]
    created_at: datetime


class WeeklyRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def totals(
        self, start: datetime, end: datetime, *, program_id: int | None = None
    ) -> list[PeriodTotals]:
        """Per (affiliate, program) totals for ``start <= time < end``."""
        click_filter = [clicks.c.occurred_at >= start, clicks.c.occurred_at < end]
        conversion_filter = [
            conversions.c.occurred_at >= start,
            conversions.c.occurred_at < end,
            counted(),
            conversions.c.affiliate_id.is_not(None),
        ]
        if program_id is not None:
            click_filter.append(links.c.program_id == program_id)
            conversion_filter.append(conversions.c.program_id == program_id)
        click_rows = await self._connection.execute(
            select(links.c.affiliate_id, links.c.program_id, func.count())
            .select_from(clicks.join(links, links.c.id == clicks.c.link_id))
            .where(and_(*click_filter))
            .group_by(links.c.affiliate_id, links.c.program_id)
        )
        per_pair: dict[tuple[int, int], list[int]] = {
            (affiliate, program): [int(n), 0, 0, 0] for affiliate, program, n in click_rows
        }
        earning = conversions.c.over_cap.is_(False)
        pending = case(
            (and_(earning, conversions.c.status == "pending"), conversions.c.commission_minor),
            else_=0,
        )
        approved = case(
            (
                and_(earning, conversions.c.status.in_(("approved", "paid"))),
                conversions.c.commission_minor,
            ),
            else_=0,
        )
        conversion_rows = await self._connection.execute(
            select(
                conversions.c.affiliate_id,
                conversions.c.program_id,
                func.count(),
                func.coalesce(func.sum(pending), 0),
                func.coalesce(func.sum(approved), 0),
            )
            .where(and_(*conversion_filter))
            .group_by(conversions.c.affiliate_id, conversions.c.program_id)
        )
        for affiliate, program, n, pending_sum, approved_sum in conversion_rows:
            entry = per_pair.setdefault((affiliate, program), [0, 0, 0, 0])
            entry[1:] = [int(n), int(pending_sum), int(approved_sum)]
        if not per_pair:
            return []
        program_rows = await self._connection.execute(
            select(programs.c.id, programs.c.slug, programs.c.currency).where(
                programs.c.id.in_({program for _, program in per_pair})
            )
        )
        program_info = {row.id: (row.slug, row.currency) for row in program_rows}
        return [
            PeriodTotals(
                affiliate_id=affiliate,
                program_id=program,
                program_slug=program_info[program][0],
                currency=program_info[program][1],
                clicks=values[0],
                conversions=values[1],
                commission_pending_minor=values[2],
                commission_approved_minor=values[3],
            )
            for (affiliate, program), values in sorted(
                per_pair.items(), key=lambda item: (item[0][0], program_info[item[0][1]][0])
            )
        ]

    async def daily(
        self, boundaries: Sequence[datetime], affiliate_ids: Sequence[int]
    ) -> dict[int, list[tuple[int, int]]]:
        """Clicks and conversions per day for each affiliate.

        ``boundaries`` are the local midnights as UTC times (n + 1 of them for n days, so
        DST days of 23 or 25 hours are bucketed correctly). Returns, per affiliate,
        n (clicks, conversions) pairs.
        """
        days = len(boundaries) - 1
        result: dict[int, list[tuple[int, int]]] = {
            affiliate: [(0, 0)] * days for affiliate in affiliate_ids
        }
        if days < 1 or not affiliate_ids:
            return result

        def bucket(column: Any) -> Any:
            return case(
                *((column < boundary, index) for index, boundary in enumerate(boundaries[1:])),
                else_=days,
            )

        click_day = bucket(clicks.c.occurred_at)
        click_rows = await self._connection.execute(
            select(links.c.affiliate_id, click_day, func.count())
            .select_from(clicks.join(links, links.c.id == clicks.c.link_id))
            .where(links.c.affiliate_id.in_(list(affiliate_ids)))
            .where(clicks.c.occurred_at >= boundaries[0])
            .where(clicks.c.occurred_at < boundaries[-1])
            .group_by(links.c.affiliate_id, click_day)
        )
        conversion_day = bucket(conversions.c.occurred_at)
        conversion_rows = await self._connection.execute(
            select(conversions.c.affiliate_id, conversion_day, func.count())
            .where(conversions.c.affiliate_id.in_(list(affiliate_ids)))
            .where(counted())
            .where(conversions.c.occurred_at >= boundaries[0])
            .where(conversions.c.occurred_at < boundaries[-1])
            .group_by(conversions.c.affiliate_id, conversion_day)
        )
        for affiliate, day, n in click_rows:
            series = result[affiliate]
            series[day] = (int(n), series[day][1])
        for affiliate, day, n in conversion_rows:
            series = result[affiliate]
            series[day] = (series[day][0], int(n))
        return result

    async def conversions_before(self, moment: datetime) -> dict[int, int]:
        """All-time conversions per affiliate before ``moment`` (for milestones)."""
        rows = await self._connection.execute(
            select(conversions.c.affiliate_id, func.count())
            .where(conversions.c.affiliate_id.is_not(None))
            .where(counted())
            .where(conversions.c.occurred_at < moment)
            .group_by(conversions.c.affiliate_id)
        )
        return {int(affiliate): int(n) for affiliate, n in rows}

    async def feedback_recipients(self) -> list[Recipient]:
        """Active affiliates with feedback on, with every platform account they have."""
        rows = await self._connection.execute(
            select(
                affiliates.c.id,
                affiliates.c.display_name,
                affiliates.c.timezone,
                identities.c.platform,
                identities.c.platform_user_id,
            )
            .join(identities, identities.c.affiliate_id == affiliates.c.id)
            .where(affiliates.c.status == "active")
            .where(affiliates.c.feedback == "weekly")
            .order_by(affiliates.c.id, identities.c.id)
        )
        grouped: dict[int, Recipient] = {}
        for row in rows:
            found = grouped.get(row.id)
            account = (row.platform, row.platform_user_id)
            if found is None:
                grouped[row.id] = Recipient(row.id, row.display_name, row.timezone, (account,))
            else:
                grouped[row.id] = Recipient(
                    found.affiliate_id,
                    found.display_name,
                    found.timezone,
                    (*found.accounts, account),
                )
        return list(grouped.values())

    async def save_season(
        self,
        period_key: str,
        scope: str,
        start: datetime,
        end: datetime,
        entries: list[dict[str, Any]],
        *,
        now: datetime,
    ) -> Season:
        """Archive a posted leaderboard; the first archive of a period wins.

        Returns the archived season, which is the earlier one if this period was posted
        before: a re-post shows exactly what was posted the first time.
        """
        await self._connection.execute(
            insert_ignoring_conflicts(self._connection, leaderboard_seasons).values(
                period_key=period_key,
                scope=scope,
                period_start=start,
                period_end=end,
                entries=entries,
                created_at=now,
            )
        )
        season = await self.season(period_key, scope)
        if season is None:  # pragma: no cover - inserted or found above
            raise RuntimeError("season vanished inside its own transaction")
        return season

    async def season(self, period_key: str, scope: str = "all") -> Season | None:
        """The archived leaderboard of a period (``2026-W47``), if it was posted."""
        row = (
            await self._connection.execute(
                select(leaderboard_seasons)
                .where(leaderboard_seasons.c.period_key == period_key)
                .where(leaderboard_seasons.c.scope == scope)
            )
        ).first()
        if row is None:
            return None
        return from_row(Season, row)

    async def seasons(self, scope: str = "all", *, limit: int = 20) -> list[str]:
        """Period keys of archived seasons, newest first."""
        rows = await self._connection.execute(
            select(leaderboard_seasons.c.period_key)
            .where(leaderboard_seasons.c.scope == scope)
            .order_by(leaderboard_seasons.c.period_start.desc())
            .limit(limit)
        )
        return [row.period_key for row in rows]
