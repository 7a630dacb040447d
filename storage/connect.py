"""/connect: one-time codes, and merging two affiliates when one person has both.

A code is stored only as its SHA-256 hash, so a database dump does not hand out live
codes. Redemption is one ``UPDATE … WHERE used_at IS NULL`` so two concurrent attempts
cannot both succeed.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.schema import (
    affiliates,
    connect_codes,
    conversions,
    identities,
    links,
    memberships,
    payouts,
    targets,
)

_MEMBERSHIP_RANK = {"approved": 3, "pending": 2, "rejected": 1}


def code_hash(code: str) -> str:
    """The stored form of a code (codes are compared case-insensitively)."""
    return hashlib.sha256(code.strip().upper().encode("utf-8")).hexdigest()


class ConnectRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def issue(
        self, affiliate_id: int, code: str, *, now: datetime, expires_at: datetime
    ) -> None:
        """Store a new code for ``affiliate_id``; older unused codes of theirs stop working."""
        await self._connection.execute(
            update(connect_codes)
            .where(connect_codes.c.affiliate_id == affiliate_id)
            .where(connect_codes.c.used_at.is_(None))
            .values(used_at=now)
        )
        await self._connection.execute(
            connect_codes.insert().values(
                code_hash=code_hash(code),
                affiliate_id=affiliate_id,
                created_at=now,
                expires_at=expires_at,
            )
        )

    async def redeem(self, code: str, *, now: datetime) -> int | None:
        """Use a code once; returns the affiliate it belongs to, or None if it is not valid."""
        hashed = code_hash(code)
        row = (
            await self._connection.execute(
                select(connect_codes.c.id, connect_codes.c.affiliate_id).where(
                    and_(
                        connect_codes.c.code_hash == hashed,
                        connect_codes.c.used_at.is_(None),
                        connect_codes.c.expires_at > now,
                    )
                )
            )
        ).first()
        if row is None:
            return None
        claimed = await self._connection.execute(
            update(connect_codes)
            .where(connect_codes.c.id == row.id)
            .where(connect_codes.c.used_at.is_(None))
            .values(used_at=now)
        )
        return int(row.affiliate_id) if claimed.rowcount == 1 else None

    async def merge(self, source_id: int, into_id: int) -> None:
        """Move everything of affiliate ``source_id`` to ``into_id`` and delete the source.

        Identities, links, conversions, targets and payouts move as they are. Where both
        have a membership of the same program the better status stays (approved over
        pending over rejected). Where both have a link for the same program and campaign,
        the source's link keeps its code (already shared links keep counting) under the
        campaign ``<campaign>-merged<source id>``.
        """
        connection = self._connection
        await connection.execute(
            update(identities)
            .where(identities.c.affiliate_id == source_id)
            .values(affiliate_id=into_id)
        )
        await self._merge_memberships(source_id, into_id)
        await self._merge_links(source_id, into_id)
        for table in (conversions, targets, payouts, connect_codes):
            await connection.execute(
                update(table).where(table.c.affiliate_id == source_id).values(affiliate_id=into_id)
            )
        source = (
            await connection.execute(
                select(affiliates.c.alias).where(affiliates.c.id == source_id)
            )
        ).first()
        target = (
            await connection.execute(select(affiliates.c.alias).where(affiliates.c.id == into_id))
        ).first()
        await connection.execute(affiliates.delete().where(affiliates.c.id == source_id))
        if source is not None and target is not None and source.alias and not target.alias:
            await connection.execute(
                update(affiliates).where(affiliates.c.id == into_id).values(alias=source.alias)
            )

    async def _merge_memberships(self, source_id: int, into_id: int) -> None:
        connection = self._connection
        kept = {
            row.program_id: row
            for row in await connection.execute(
                select(memberships).where(memberships.c.affiliate_id == into_id)
            )
        }
        for row in list(
            await connection.execute(
                select(memberships).where(memberships.c.affiliate_id == source_id)
            )
        ):
            existing = kept.get(row.program_id)
            if existing is None:
                await connection.execute(
                    update(memberships)
                    .where(memberships.c.id == row.id)
                    .values(affiliate_id=into_id)
                )
                continue
            if _MEMBERSHIP_RANK[row.status] > _MEMBERSHIP_RANK[existing.status]:
                await connection.execute(
                    update(memberships)
                    .where(memberships.c.id == existing.id)
                    .values(
                        status=row.status, decided_at=row.decided_at, decided_by=row.decided_by
                    )
                )
            await connection.execute(memberships.delete().where(memberships.c.id == row.id))

    async def _merge_links(self, source_id: int, into_id: int) -> None:
        connection = self._connection
        taken = {
            (row.program_id, row.campaign)
            for row in await connection.execute(
                select(links.c.program_id, links.c.campaign).where(links.c.affiliate_id == into_id)
            )
        }
        for row in list(
            await connection.execute(select(links).where(links.c.affiliate_id == source_id))
        ):
            campaign = row.campaign
            if (row.program_id, campaign) in taken:
                suffix = f"-merged{source_id}"
                campaign = f"{(campaign or 'default')[: 64 - len(suffix)]}{suffix}"
            await connection.execute(
                update(links)
                .where(links.c.id == row.id)
                .values(affiliate_id=into_id, campaign=campaign)
            )
