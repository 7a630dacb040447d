"""Affiliates, the platform identities attached to them, and program memberships."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import from_row, insert_ignoring_conflicts
from storage.errors import Conflict
from storage.schema import affiliates, identities, memberships

AffiliateStatus = Literal["active", "suspended"]
MembershipStatus = Literal["pending", "approved", "rejected"]
_PREFERENCES = frozenset({"visibility", "alias", "feedback", "timezone", "conversion_notices"})


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
        return from_row(Affiliate, row) if row else None

    async def by_identity(self, platform: str, platform_user_id: str) -> Affiliate | None:
        row = (
            await self._connection.execute(
                select(affiliates)
                .join(identities, identities.c.affiliate_id == affiliates.c.id)
                .where(identities.c.platform == platform)
                .where(identities.c.platform_user_id == platform_user_id)
            )
        ).first()
        return from_row(Affiliate, row) if row else None

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
        return [from_row(Identity, row) for row in rows]

    async def membership(self, affiliate_id: int, program_id: int) -> Membership | None:
        row = (
            await self._connection.execute(
                select(memberships)
                .where(memberships.c.affiliate_id == affiliate_id)
                .where(memberships.c.program_id == program_id)
            )
        ).first()
        return from_row(Membership, row) if row else None

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
        return [from_row(Membership, row) for row in rows]

    async def touch(self, platform: str, platform_user_id: str, *, now: datetime) -> None:
        """Note that the account talked to us: it is reachable again."""
        await self._connection.execute(
            update(identities)
            .where(identities.c.platform == platform)
            .where(identities.c.platform_user_id == platform_user_id)
            .values(last_seen_at=now, unreachable_reason=None, unreachable_at=None)
        )

    async def is_unreachable(self, platform: str, platform_user_id: str) -> bool:
        """Whether delivery marked this account unreachable (a cheap indexed read, so
        callers can skip the write in :meth:`touch` on every command)."""
        row = (
            await self._connection.execute(
                select(identities.c.id)
                .where(identities.c.platform == platform)
                .where(identities.c.platform_user_id == platform_user_id)
                .where(identities.c.unreachable_at.is_not(None))
            )
        ).first()
        return row is not None

    async def all_affiliates(self, *, status: AffiliateStatus | None = None) -> list[Affiliate]:
        """Every affiliate (or those with ``status``), oldest first."""
        query = select(affiliates).order_by(affiliates.c.id)
        if status is not None:
            query = query.where(affiliates.c.status == status)
        return [from_row(Affiliate, row) for row in await self._connection.execute(query)]

    async def by_alias(self, alias: str) -> Affiliate | None:
        """The affiliate using ``alias``, compared without regard to case."""
        row = (
            await self._connection.execute(
                select(affiliates).where(func.lower(affiliates.c.alias) == alias.lower())
            )
        ).first()
        return from_row(Affiliate, row) if row else None

    async def find_identities(
        self, *, platform_user_id: str | None = None, display_name: str | None = None
    ) -> list[Identity]:
        """Identities on any platform with this user id or (case-insensitive) name."""
        query = select(identities).order_by(identities.c.id)
        if platform_user_id is not None:
            query = query.where(identities.c.platform_user_id == platform_user_id)
        if display_name is not None:
            query = query.where(func.lower(identities.c.display_name) == display_name.lower())
        return [from_row(Identity, row) for row in await self._connection.execute(query)]

    async def identities_of_many(self, affiliate_ids: Iterable[int]) -> dict[int, list[Identity]]:
        """Identities of several affiliates at once, keyed by affiliate id."""
        wanted = set(affiliate_ids)
        found: dict[int, list[Identity]] = {affiliate_id: [] for affiliate_id in wanted}
        if not wanted:
            return found
        rows = await self._connection.execute(
            select(identities)
            .where(identities.c.affiliate_id.in_(wanted))
            .order_by(identities.c.id)
        )
        for row in rows:
            found[row.affiliate_id].append(from_row(Identity, row))
        return found

    async def set_status(
        self, affiliate_id: int, status: AffiliateStatus, *, reason: str | None
    ) -> None:
        """Suspend or reinstate; the reason is kept only while suspended."""
        await self._connection.execute(
            update(affiliates)
            .where(affiliates.c.id == affiliate_id)
            .values(status=status, suspended_reason=reason if status == "suspended" else None)
        )

    async def set_preferences(self, affiliate_id: int, **values: str | None) -> None:
        """Change the affiliate's own settings (visibility, alias, feedback, timezone).

        Raises:
            Conflict: the alias is taken (the unique constraint decided).
        """
        unknown = set(values) - _PREFERENCES
        if unknown:
            raise ValueError(f"not a preference: {', '.join(sorted(unknown))}")
        try:
            async with self._connection.begin_nested():
                await self._connection.execute(
                    update(affiliates).where(affiliates.c.id == affiliate_id).values(**values)
                )
        except IntegrityError:
            raise Conflict("alias is taken") from None

    async def memberships_with_status(
        self, status: MembershipStatus, *, program_id: int | None = None
    ) -> list[Membership]:
        """Memberships in one state (the managers' queue of pending requests, say)."""
        query = (
            select(memberships)
            .where(memberships.c.status == status)
            .order_by(memberships.c.created_at, memberships.c.id)
        )
        if program_id is not None:
            query = query.where(memberships.c.program_id == program_id)
        return [from_row(Membership, row) for row in await self._connection.execute(query)]

    async def decide(
        self,
        affiliate_id: int,
        program_id: int,
        status: MembershipStatus,
        *,
        now: datetime,
        by: str,
    ) -> bool:
        """Record a manager's decision on a membership; returns whether it changed."""
        result = await self._connection.execute(
            update(memberships)
            .where(memberships.c.affiliate_id == affiliate_id)
            .where(memberships.c.program_id == program_id)
            .where(memberships.c.status != status)
            .values(status=status, decided_at=now, decided_by=by)
        )
        return bool(result.rowcount)

    async def attach_identity(
        self,
        affiliate_id: int,
        platform: str,
        platform_user_id: str,
        display_name: str,
        *,
        now: datetime,
    ) -> None:
        """Attach an account that belongs to no affiliate yet (``/connect``).

        Raises:
            Conflict: the account belongs to an affiliate already.
        """
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
            raise Conflict("the account belongs to an affiliate already")

    async def get_many(self, affiliate_ids: Iterable[int]) -> dict[int, Affiliate]:
        """Several affiliates in one query, keyed by id (unknown ids are left out)."""
        wanted = set(affiliate_ids)
        if not wanted:
            return {}
        rows = await self._connection.execute(
            select(affiliates).where(affiliates.c.id.in_(wanted))
        )
        return {row.id: from_row(Affiliate, row) for row in rows}
