"""Discord reward roles: which role goes with a tier or badge, and the queue of grants and
removals the Discord adapter applies (the core decides, the adapter talks to Discord)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import from_row, insert_ignoring_conflicts
from storage.schema import reward_roles, role_changes

RoleAction = Literal["grant", "remove"]


@dataclass(frozen=True, slots=True)
class RoleChange:
    id: int
    affiliate_id: int
    user_id: str
    role_id: str
    action: RoleAction
    status: str
    error: str | None
    created_at: datetime


def tier_subject(program_id: int, tier: str) -> str:
    return f"tier:{program_id}:{tier}"


def badge_subject(badge: str) -> str:
    return f"badge:{badge}"


class RewardRoleRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def map_role(self, subject: str, role_id: str) -> bool:
        """Link a role to a tier or badge; ``False`` if it already was."""
        result = await self._connection.execute(
            insert_ignoring_conflicts(self._connection, reward_roles)
            .values(subject=subject, role_id=role_id)
            .returning(reward_roles.c.id)
        )
        return result.first() is not None

    async def roles_for(self, subject: str) -> list[str]:
        rows = await self._connection.execute(
            select(reward_roles.c.role_id)
            .where(reward_roles.c.subject == subject)
            .order_by(reward_roles.c.id)
        )
        return [row[0] for row in rows]

    async def queue(
        self,
        affiliate_id: int,
        user_ids: Iterable[str],
        role_ids: Iterable[str],
        action: RoleAction,
        *,
        now: datetime,
    ) -> int:
        """Queue a grant or removal of each role for each Discord account."""
        rows = [
            {
                "affiliate_id": affiliate_id,
                "user_id": user_id,
                "role_id": role_id,
                "action": action,
                "created_at": now,
            }
            for user_id in user_ids
            for role_id in role_ids
        ]
        if rows:
            await self._connection.execute(role_changes.insert(), rows)
        return len(rows)

    async def pending(self, limit: int = 50) -> list[RoleChange]:
        """The oldest changes still to apply, in the order they were decided."""
        rows = await self._connection.execute(
            select(role_changes)
            .where(role_changes.c.status == "pending")
            .order_by(role_changes.c.id)
            .limit(limit)
        )
        return [from_row(RoleChange, row) for row in rows]

    async def finish(self, change_id: int, *, error: str | None = None, now: datetime) -> None:
        """Mark a change applied (``error`` None) or failed with Discord's reason."""
        await self._connection.execute(
            update(role_changes)
            .where(role_changes.c.id == change_id)
            .where(role_changes.c.status == "pending")
            .values(status="failed" if error else "done", error=error, done_at=now)
        )

    async def problems(self, limit: int = 20) -> list[RoleChange]:
        """Recent failed changes, newest first: what /report shows managers to fix."""
        rows = await self._connection.execute(
            select(role_changes)
            .where(role_changes.c.status == "failed")
            .order_by(role_changes.c.id.desc())
            .limit(limit)
        )
        return [from_row(RoleChange, row) for row in rows]

    async def history(self, affiliate_id: int) -> list[RoleChange]:
        rows = await self._connection.execute(
            select(role_changes)
            .where(role_changes.c.affiliate_id == affiliate_id)
            .order_by(role_changes.c.id)
        )
        return [from_row(RoleChange, row) for row in rows]
