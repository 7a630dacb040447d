"""Per-campaign numbers: clicks, conversions and money for each tracked link's campaign.

A campaign is the label an affiliate gives a link (``/link shop youtube``); the plain
link's campaign is ``""``. Conversions follow the link that brought them; one without a
link (attributed another way) counts under ``""``. The counting rules are those of
``PerformanceRepository.affiliate_totals``: reversed conversions count for nothing and
over-cap ones count as conversions but earn nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.conversions import counted as counts
from storage.schema import clicks, conversions, links, programs


@dataclass(frozen=True, slots=True)
class CampaignTotals:
    """One affiliate's numbers in one program and campaign; money in minor units."""

    affiliate_id: int
    program_id: int
    program_slug: str
    currency: str
    campaign: str  # "" for the plain link
    clicks: int
    conversions: int
    revenue_minor: int
    commission_minor: int  # pending, approved and paid commission that was earned


class CampaignRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def totals(
        self,
        start: datetime | None,
        end: datetime,
        *,
        affiliate_id: int | None = None,
        program_ids: Sequence[int] | None = None,
    ) -> list[CampaignTotals]:
        """Totals per (affiliate, program, campaign) for ``start <= time < end``, ordered
        by affiliate, program slug and campaign (the plain link first)."""
        click_filter: list[Any] = [clicks.c.occurred_at < end]
        conversion_filter: list[Any] = [
            conversions.c.occurred_at < end,
            counts(),
            conversions.c.affiliate_id.is_not(None),
        ]
        if start is not None:
            click_filter.append(clicks.c.occurred_at >= start)
            conversion_filter.append(conversions.c.occurred_at >= start)
        if affiliate_id is not None:
            click_filter.append(links.c.affiliate_id == affiliate_id)
            conversion_filter.append(conversions.c.affiliate_id == affiliate_id)
        if program_ids is not None:
            click_filter.append(links.c.program_id.in_(program_ids))
            conversion_filter.append(conversions.c.program_id.in_(program_ids))
        counted: dict[tuple[int, int, str], list[int]] = {}
        click_rows = await self._connection.execute(
            select(links.c.affiliate_id, links.c.program_id, links.c.campaign, func.count())
            .select_from(clicks.join(links, links.c.id == clicks.c.link_id))
            .where(and_(*click_filter))
            .group_by(links.c.affiliate_id, links.c.program_id, links.c.campaign)
        )
        for affiliate, program, campaign, n in click_rows:
            counted[(int(affiliate), int(program), str(campaign))] = [int(n), 0, 0, 0]
        campaign_of = func.coalesce(links.c.campaign, "")
        earned = case((conversions.c.over_cap.is_(False), conversions.c.commission_minor), else_=0)
        conversion_rows = await self._connection.execute(
            select(
                conversions.c.affiliate_id,
                conversions.c.program_id,
                campaign_of.label("campaign"),
                func.count(),
                func.coalesce(func.sum(conversions.c.amount_minor), 0),
                func.coalesce(func.sum(earned), 0),
            )
            .select_from(conversions.outerjoin(links, links.c.id == conversions.c.link_id))
            .where(and_(*conversion_filter))
            .group_by(conversions.c.affiliate_id, conversions.c.program_id, campaign_of)
        )
        for affiliate, program, campaign, n, revenue, commission in conversion_rows:
            entry = counted.setdefault((int(affiliate), int(program), str(campaign)), [0, 0, 0, 0])
            entry[1:] = [int(n), int(revenue), int(commission)]
        if not counted:
            return []
        program_rows = await self._connection.execute(
            select(programs.c.id, programs.c.slug, programs.c.currency).where(
                programs.c.id.in_({program for _, program, _ in counted})
            )
        )
        info = {row.id: (row.slug, row.currency) for row in program_rows}
        return [
            CampaignTotals(
                affiliate_id=affiliate,
                program_id=program,
                program_slug=info[program][0],
                currency=info[program][1],
                campaign=campaign,
                clicks=values[0],
                conversions=values[1],
                revenue_minor=values[2],
                commission_minor=values[3],
            )
            for (affiliate, program, campaign), values in sorted(
                counted.items(), key=lambda item: (item[0][0], info[item[0][1]][0], item[0][2])
            )
        ]
