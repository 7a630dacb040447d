"""Affiliates, the platform identities attached to them, and program memberships."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import insert_ignoring_conflicts
from storage.schema import affiliates, identities, memberships

AffiliateStatus = Literal["active", "suspended"]
MembershipStatus = Literal["pending", "approved", "rejected"]


@dataclass(frozen=True, slots=True)
class Affiliate:
    id: int
    display_name: str
    alias: str | None
    status: AffiliateStatus
    suspended_reason: str | None
    visibility: Literal["public", "alias", "hidden"]
    feedback: Literal["weekly", "off"]
    conversion_notices: Literal["instant", "daily", "off"]
    timezone: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Identity:
    id: int
    affiliate_id: int
    platform: str
    platform_user_id: str
    display_name: str
    unreachable_reason: str | None


@dataclass(frozen=True, slots=True)
class Membership:
    affiliate_id: int
    program_id: int
    status: MembershipStatus
    created_at: datetime
    decided_at: datetime | None


class AffiliateRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def get(self, affiliate_id: int) -> Affiliate | None:
        row = (
            await self._connection.execute(
                select(affiliates).where(affiliates.c.id == affiliate_id)
            )
        ).first()
        return _affiliate(row) if row else None

    async def by_identity(self, platform: str, platform_user_id: str) -> Affiliate | None:
        row = (
            await self._connection.execute(
                select(affiliates)
                .join(identities, identities.c.affiliate_id == affiliates.c.id)
                .where(identities.c.platform == platform)
                .where(identities.c.platform_user_id == platform_user_id)
            )
        ).first()
        return _affiliate(row) if row else None

    async def ensure_for_identity(
        self, platform: str, platform_user_id: str, display_name: str, *, now: datetime
    ) -> Affiliate:
        """The affiliate behind this account, created on first contact.

        Concurrent first contacts from the same account settle on the identity's unique
        constraint: the loser's fresh affiliate row is removed in the same transaction.
        """
        found = await self.by_identity(platform, platform_user_id)
        if found is not None:
            return found
        result = await self._connection.execute(
            affiliates.insert().values(display_name=display_name, created_at=now)
        )
        affiliate_id = result.inserted_primary_key[0]  # type: ignore[index]
        inserted = await self._connection.execute(
            insert_ignoring_conflicts(self._connection, identities).values(
                affiliate_id=affiliate_id,
                platform=platform,
                platform_user_id=platform_user_id,
                display_name=display_name,
                created_at=now,
                last_seen_at=now,
            )
        )
        if inserted.rowcount == 0:
            await self._connection.execute(
                affiliates.delete().where(affiliates.c.id == affiliate_id)
            )
        affiliate = await self.by_identity(platform, platform_user_id)
        if affiliate is None:  # pragma: no cover - the identity row exists now
            raise RuntimeError("identity vanished inside its own transaction")
        return affiliate

    async def identities_of(self, affiliate_id: int) -> list[Identity]:
        rows = await self._connection.execute(
            select(identities)
            .where(identities.c.affiliate_id == affiliate_id)
            .order_by(identities.c.id)
        )
        return [
            Identity(
                id=row.id,
                affiliate_id=row.affiliate_id,
                platform=row.platform,
                platform_user_id=row.platform_user_id,
                display_name=row.display_name,
                unreachable_reason=row.unreachable_reason,
            )
            for row in rows
        ]

    async def membership(self, affiliate_id: int, program_id: int) -> Membership | None:
        row = (
            await self._connection.execute(
                select(memberships)
                .where(memberships.c.affiliate_id == affiliate_id)
                .where(memberships.c.program_id == program_id)
            )
        ).first()
        return _membership(row) if row else None

    async def join(
        self, affiliate_id: int, program_id: int, status: MembershipStatus, *, now: datetime
    ) -> tuple[Membership, bool]:
        """Enrol in a program; returns the membership and whether it is new."""
        inserted = await self._connection.execute(
            insert_ignoring_conflicts(self._connection, memberships).values(
                affiliate_id=affiliate_id,
                program_id=program_id,
                status=status,
                created_at=now,
                decided_at=now if status == "approved" else None,
            )
        )
        membership = await self.membership(affiliate_id, program_id)
        if membership is None:  # pragma: no cover - inserted or found above
            raise RuntimeError("membership vanished inside its own transaction")
        return membership, inserted.rowcount == 1

    async def memberships_of(self, affiliate_id: int) -> list[Membership]:
        rows = await self._connection.execute(
            select(memberships)
            .where(memberships.c.affiliate_id == affiliate_id)
            .order_by(memberships.c.program_id)
        )
        return [_membership(row) for row in rows]

    async def touch(self, platform: str, platform_user_id: str, *, now: datetime) -> None:
        """Note that the account talked to us: it is reachable again."""
        await self._connection.execute(
            update(identities)
            .where(identities.c.platform == platform)
            .where(identities.c.platform_user_id == platform_user_id)
            .values(last_seen_at=now, unreachable_reason=None, unreachable_at=None)
        )


def _affiliate(row: Any) -> Affiliate:
    return Affiliate(
        id=row.id,
        display_name=row.display_name,
        alias=row.alias,
        status=row.status,
        suspended_reason=row.suspended_reason,
        visibility=row.visibility,
        feedback=row.feedback,
        conversion_notices=row.conversion_notices,
        timezone=row.timezone,
        created_at=row.created_at,
    )


def _membership(row: Any) -> Membership:
    return Membership(
        affiliate_id=row.affiliate_id,
        program_id=row.program_id,
        status=row.status,
        created_at=row.created_at,
        decided_at=row.decided_at,
    )
