"""Whether referred accounts ever talk to the bot again (the "never act again" signal).

Referred people are usually not affiliates, so they have no ``identities`` row and no
``last_seen_at``; this table keeps, per signup referral, when the referred account first
came back. The fraud job decides each referral once, when it reaches the configured age,
and reads per-code totals from the ``(link_id, inactive)`` index: never a rescan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import insert_ignoring_conflicts
from storage.schema import links, referral_activity

# Contact within this long after the signup is still the signup exchange (the greeting, a
# look at /help, a scripted second command from the same farm run), not coming back.
SIGNUP_EXCHANGE = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class CodeActivity:
    """Decided signup referrals on one link (code): how many, and how many never came back."""

    link_id: int
    program_id: int
    affiliate_id: int
    decided: int
    inactive: int


class ReferralActivityRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def track(
        self, conversion_id: int, link_id: int, platform: str, user_id: str, *, now: datetime
    ) -> None:
        """Start watching a new signup referral (idempotent per conversion)."""
        await self._connection.execute(
            insert_ignoring_conflicts(self._connection, referral_activity).values(
                conversion_id=conversion_id,
                link_id=link_id,
                platform=platform,
                user_id=user_id[:64],
                signed_up_at=now,
            )
        )

    async def watched(self, platform: str, user_id: str) -> bool:
        """Whether this account is a referral that has not come back yet (indexed read)."""
        row = (
            await self._connection.execute(
                select(referral_activity.c.conversion_id)
                .where(referral_activity.c.platform == platform)
                .where(referral_activity.c.user_id == user_id)
                .where(referral_activity.c.returned_at.is_(None))
                .limit(1)
            )
        ).first()
        return row is not None

    async def returned(self, platform: str, user_id: str, *, now: datetime) -> int:
        """Note the account talked to the bot again after its signup exchange.

        Contact within ``SIGNUP_EXCHANGE`` of the signup changes nothing: a farm script
        that sends a second command right after ``/start`` has not come back. Returns the
        rows changed.
        """
        result = await self._connection.execute(
            update(referral_activity)
            .where(referral_activity.c.platform == platform)
            .where(referral_activity.c.user_id == user_id)
            .where(referral_activity.c.returned_at.is_(None))
            .where(referral_activity.c.signed_up_at <= now - SIGNUP_EXCHANGE)
            .values(returned_at=now)
        )
        return int(result.rowcount or 0)

    async def decide_due(self, *, older_than: datetime, limit: int) -> list[int]:
        """Decide up to ``limit`` referrals signed up before ``older_than``.

        A referral whose account has not come back by then is inactive. Returns the links
        (codes) that had referrals decided, for the per-code check.
        """
        rows = (
            await self._connection.execute(
                select(
                    referral_activity.c.conversion_id,
                    referral_activity.c.link_id,
                    referral_activity.c.signed_up_at,
                    referral_activity.c.returned_at,
                )
                .where(referral_activity.c.inactive.is_(None))
                .where(referral_activity.c.signed_up_at <= older_than)
                .order_by(referral_activity.c.signed_up_at)
                .limit(limit)
            )
        ).all()
        if not rows:
            return []
        dead = [r.conversion_id for r in rows if r.returned_at is None]
        alive = [r.conversion_id for r in rows if r.returned_at is not None]
        for ids, value in ((dead, True), (alive, False)):
            if ids:
                await self._connection.execute(
                    update(referral_activity)
                    .where(referral_activity.c.conversion_id.in_(ids))
                    .values(inactive=value)
                )
        return sorted({int(r.link_id) for r in rows})

    async def per_code(self, link_ids: list[int]) -> list[CodeActivity]:
        """Decided and inactive referral counts for each of ``link_ids``."""
        if not link_ids:
            return []
        inactive = func.sum(case((referral_activity.c.inactive.is_(True), 1), else_=0))
        rows = await self._connection.execute(
            select(
                links.c.id,
                links.c.program_id,
                links.c.affiliate_id,
                func.count(referral_activity.c.conversion_id),
                inactive,
            )
            .join(links, links.c.id == referral_activity.c.link_id)
            .where(referral_activity.c.link_id.in_(link_ids))
            .where(referral_activity.c.inactive.is_not(None))
            .group_by(links.c.id, links.c.program_id, links.c.affiliate_id)
            .order_by(links.c.id)
        )
        return [
            CodeActivity(
                link_id=int(row[0]),
                program_id=int(row[1]),
                affiliate_id=int(row[2]),
                decided=int(row[3]),
                inactive=int(row[4] or 0),
            )
            for row in rows
        ]
