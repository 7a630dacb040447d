"""Discord server invites handed to affiliates, and the members who joined through them.

This is informational bookkeeping. Discord's Platform Manipulation Policy forbids rewarding
server invites, so nothing here feeds commission, points, roles or leaderboard rank: the
rows exist to be *shown* (to the affiliate and to managers), never to be paid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import from_row, insert_ignoring_conflicts
from storage.program_settings import ProgramSettingsRepository
from storage.schema import discord_invites, programs, server_joins

JoinStatus = Literal["joined", "left"]
# Why a join has no affiliate: the vanity URL was used (no invite count rose), several
# invites rose at once, the counts were not known (missed while offline), or the invite
# that rose is not an affiliate's.
UnattributedReason = Literal["vanity", "ambiguous", "missed", "other"]
INVITES_SETTING = "discord_invites"


@dataclass(frozen=True, slots=True)
class ServerInvite:
    code: str
    guild_id: str
    channel_id: str
    affiliate_id: int
    program_id: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ServerJoin:
    guild_id: str
    member_id: str
    affiliate_id: int | None
    program_id: int | None
    invite_code: str | None
    unattributed_reason: UnattributedReason | None
    status: JoinStatus
    joined_at: datetime
    left_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewJoin:
    """A join as the adapter saw it; ``affiliate_id`` is ``None`` when not attributable."""

    guild_id: str
    member_id: str
    joined_at: datetime
    affiliate_id: int | None = None
    program_id: int | None = None
    invite_code: str | None = None
    unattributed_reason: UnattributedReason | None = None


@dataclass(frozen=True, slots=True)
class JoinCounts:
    """Members who joined through one affiliate's invite in a period, and how many left."""

    joined: int
    left: int


class ServerJoinRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def invite_of(self, affiliate_id: int, guild_id: str) -> ServerInvite | None:
        """The affiliate's invite to this server, if one was handed out before."""
        row = (
            await self._connection.execute(
                select(discord_invites)
                .where(discord_invites.c.affiliate_id == affiliate_id)
                .where(discord_invites.c.guild_id == guild_id)
            )
        ).first()
        return from_row(ServerInvite, row) if row else None

    async def invite_by_code(self, code: str) -> ServerInvite | None:
        row = (
            await self._connection.execute(
                select(discord_invites).where(discord_invites.c.code == code)
            )
        ).first()
        return from_row(ServerInvite, row) if row else None

    async def save_invite(self, invite: ServerInvite) -> ServerInvite:
        """Store an affiliate's invite; returns the one stored.

        If a concurrent call stored another invite for the same affiliate and server first,
        that one wins and is returned, so everybody hands out the same code.
        """
        await self._connection.execute(
            insert_ignoring_conflicts(self._connection, discord_invites).values(
                code=invite.code,
                guild_id=invite.guild_id,
                channel_id=invite.channel_id,
                affiliate_id=invite.affiliate_id,
                program_id=invite.program_id,
                created_at=invite.created_at,
            )
        )
        stored = await self.invite_of(invite.affiliate_id, invite.guild_id)
        if stored is None:  # pragma: no cover - inserted or found above
            raise RuntimeError("invite vanished inside its own transaction")
        return stored

    async def record_join(self, join: NewJoin) -> tuple[ServerJoin, bool]:
        """Record a member's join, once per member and server; returns (row, is_new).

        A member who leaves and joins again keeps the first record, so rejoining cannot
        inflate anyone's numbers.
        """
        inserted = await self._connection.execute(
            insert_ignoring_conflicts(self._connection, server_joins).values(
                guild_id=join.guild_id,
                member_id=join.member_id,
                affiliate_id=join.affiliate_id,
                program_id=join.program_id,
                invite_code=join.invite_code,
                unattributed_reason=join.unattributed_reason,
                status="joined",
                joined_at=join.joined_at,
            )
        )
        stored = await self.join_of(join.guild_id, join.member_id)
        if stored is None:  # pragma: no cover - inserted or found above
            raise RuntimeError("join vanished inside its own transaction")
        return stored, inserted.rowcount == 1

    async def join_of(self, guild_id: str, member_id: str) -> ServerJoin | None:
        row = (
            await self._connection.execute(
                select(server_joins)
                .where(server_joins.c.guild_id == guild_id)
                .where(server_joins.c.member_id == member_id)
            )
        ).first()
        return from_row(ServerJoin, row) if row else None

    async def record_leave(
        self, guild_id: str, member_id: str, *, now: datetime, default_window_days: int = 30
    ) -> ServerJoin | None:
        """Mark a join ``left`` if the member leaves within the window after joining.

        The window is the attributed program's attribution window (``default_window_days``
        for unattributed joins). A member who stayed longer than that counts as kept, so a
        late leave changes nothing. Returns the row as it is afterwards, if there is one.
        """
        join = await self.join_of(guild_id, member_id)
        if join is None or join.status == "left":
            return join
        window = default_window_days
        if join.program_id is not None:
            found = (
                await self._connection.execute(
                    select(programs.c.attribution_days).where(programs.c.id == join.program_id)
                )
            ).scalar()
            window = int(found) if found is not None else default_window_days
        if (now - join.joined_at).total_seconds() > window * 86_400:
            return join
        await self._connection.execute(
            update(server_joins)
            .where(server_joins.c.guild_id == guild_id)
            .where(server_joins.c.member_id == member_id)
            .values(status="left", left_at=now)
        )
        return await self.join_of(guild_id, member_id)

    async def counts_for_affiliate(
        self, affiliate_id: int, start: datetime | None = None, end: datetime | None = None
    ) -> JoinCounts:
        """Joins attributed to the affiliate with ``start <= joined_at < end`` (``None``:
        unbounded on that side)."""
        conditions = [server_joins.c.affiliate_id == affiliate_id]
        if start is not None:
            conditions.append(server_joins.c.joined_at >= start)
        if end is not None:
            conditions.append(server_joins.c.joined_at < end)
        row = (
            await self._connection.execute(
                select(
                    func.count().label("joined"),
                    func.coalesce(
                        func.sum(case((server_joins.c.status == "left", 1), else_=0)), 0
                    ).label("left"),
                ).where(and_(*conditions))
            )
        ).one()
        return JoinCounts(joined=int(row.joined), left=int(row.left))

    async def joins_in(self, guild_id: str) -> list[ServerJoin]:
        """Every recorded join in a server, oldest first (reports and tests)."""
        rows = await self._connection.execute(
            select(server_joins)
            .where(server_joins.c.guild_id == guild_id)
            .order_by(server_joins.c.joined_at, server_joins.c.id)
        )
        return [from_row(ServerJoin, row) for row in rows]

    async def set_program_invites(self, program_id: int, enabled: bool, *, now: datetime) -> None:
        """Switch personal server invites on or off for a program (``settings`` flag)."""
        settings = ProgramSettingsRepository(self._connection)
        await settings.set_flag(program_id, INVITES_SETTING, enabled, now=now)
