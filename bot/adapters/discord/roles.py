"""Applying queued reward_role changes (tier and badge roles) on Discord.

The core queues grants and removals in ``role_changes``; this applies them in order. The
server is found through the role's id among the servers the bot is in. Discord's refusals
are recorded on the row for /report: 403 means the bot lacks Manage Roles or the role is
at or above the bot's highest role; 404 means the member left or the role was deleted.
Other HTTP errors leave the row pending for the next pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

import discord

from storage import Database
from storage.reward_roles import RoleChange

log = logging.getLogger(__name__)

REASON = "affbot reward role"
FORBIDDEN = (
    "Discord refused: the bot needs the Manage Roles permission, and its highest role "
    "must be above role {role}"
)


class RoleSync:
    """Applies pending role changes every ``interval`` seconds (and on demand)."""

    def __init__(
        self,
        client: discord.Client,
        database: Database,
        *,
        clock: Callable[[], datetime],
        interval: float = 10.0,
    ) -> None:
        self._client = client
        self._database = database
        self._clock = clock
        self._interval = interval

    async def run(self) -> None:
        """Apply changes until cancelled; a failing pass is logged and retried later."""
        while True:
            try:
                await self.apply_pending()
            except Exception:
                log.exception("discord: applying reward roles failed; retrying")
            await asyncio.sleep(self._interval)

    async def apply_pending(self) -> int:
        """Apply what is pending now; returns how many changes were settled."""
        async with self._database.read() as store:
            changes = await store.reward_roles.pending()
        settled = 0
        for change in changes:
            settle, error = await self._apply(change)
            if not settle:
                continue
            async with self._database.transaction() as store:
                await store.reward_roles.finish(change.id, error=error, now=self._clock())
            settled += 1
        return settled

    async def _apply(self, change: RoleChange) -> tuple[bool, str | None]:
        """Whether the change is settled, and Discord's refusal if it was refused."""
        guild = self._guild_of(change.role_id)
        if guild is None:
            return True, f"role {change.role_id} is not in any server the bot is in"
        http = self._client.http
        call = http.add_role if change.action == "grant" else http.remove_role
        try:
            await call(guild, change.user_id, change.role_id, reason=REASON)
        except discord.Forbidden:
            log.warning("discord: no permission to %s role %s", change.action, change.role_id)
            return True, FORBIDDEN.format(role=change.role_id)
        except discord.NotFound:
            return True, f"member {change.user_id} or role {change.role_id} no longer exists"
        except discord.HTTPException as error:
            log.warning("discord: role %s failed (%s); will retry", change.id, error.status)
            return False, None
        return True, None

    def _guild_of(self, role_id: str) -> int | None:
        for guild in self._client.guilds:
            if guild.get_role(int(role_id)) is not None:
                return guild.id
        return None
