"""Personal server invites and who joined through them (informational only).

Discord does not say which invite a member used. The usual method, used here, is to keep
each invite's use count and, when a member joins, fetch the counts again: if exactly one
invite rose by exactly one, that is the invite. Anything else (no count rose: the vanity
URL or server discovery; several rose; the counts were not known because the bot was
offline or lacks Manage Server) is recorded as unattributed. We never guess.

Discord's Platform Manipulation Policy forbids rewarding server invites, so joins are
shown to the affiliate and managers and never earn commission, points, roles or rank.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import aiohttp
import discord

from commands.core.invocation import Actor
from commands.core.reply import Button, Field, Reply, Visibility
from commands.fraud.referrals import screen_join
from commands.fraud.rules import FraudRules
from storage import Database
from storage.server_joins import INVITES_SETTING, NewJoin, ServerInvite, UnattributedReason

log = logging.getLogger(__name__)

INVITE_URL = "https://discord.gg/{code}"
PLATFORM = "discord"


@dataclass(frozen=True, slots=True)
class Attribution:
    """The invite a join came through, or why it cannot be known."""

    code: str | None
    reason: UnattributedReason | None


def attribute(before: Mapping[str, int] | None, after: Mapping[str, int] | None) -> Attribution:
    """Compare invite use counts from before and after a join.

    Exactly one invite rising by exactly one is an attribution; every other picture is an
    unattributed join with the reason, never a guess.
    """
    if before is None or after is None:
        return Attribution(None, "missed")
    rose = {code: uses - before.get(code, 0) for code, uses in after.items()}
    rose = {code: delta for code, delta in rose.items() if delta > 0}
    vanished = [code for code in before if code not in after]
    if not rose and not vanished:
        return Attribution(None, "vanity")
    if len(rose) == 1 and not vanished:
        ((code, delta),) = rose.items()
        return Attribution(code, None) if delta == 1 else Attribution(code, "ambiguous")
    return Attribution(None, "ambiguous")


class InviteTracker:
    """Cached invite counts per server, updated from gateway events and joins."""

    def __init__(
        self,
        client: discord.Client,
        database: Database,
        *,
        clock: Callable[[], datetime],
        guild_ids: Sequence[int] = (),
        invite_channel_ids: Sequence[int] = (),
        fraud: FraudRules | None = None,
    ) -> None:
        self._client = client
        self._database = database
        self._clock = clock
        self._guild_ids = frozenset(guild_ids)
        self._invite_channel_ids = tuple(invite_channel_ids)
        self._fraud = fraud or FraudRules()
        self._uses: dict[int, dict[str, int]] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    def tracks(self, guild_id: int) -> bool:
        return not self._guild_ids or guild_id in self._guild_ids

    def _lock(self, guild_id: int) -> asyncio.Lock:
        return self._locks.setdefault(guild_id, asyncio.Lock())

    async def prime(self, guild: discord.Guild) -> None:
        """Read the server's invite counts (at start-up and when the bot joins a server)."""
        if not self.tracks(guild.id):
            return
        async with self._lock(guild.id):
            counts = await self._fetch(guild)
            if counts is None:
                self._uses.pop(guild.id, None)
            else:
                self._uses[guild.id] = counts

    def invite_created(self, invite: discord.Invite) -> None:
        guild = invite.guild
        if guild is not None and guild.id in self._uses:
            self._uses[guild.id][invite.code] = invite.uses or 0

    def invite_deleted(self, invite: discord.Invite) -> None:
        guild = invite.guild
        if guild is not None and guild.id in self._uses:
            self._uses[guild.id].pop(invite.code, None)

    async def member_joined(self, member: discord.Member) -> None:
        """Record the join, attributed to an affiliate when the counts say so."""
        guild = member.guild
        if member.bot or not self.tracks(guild.id):
            return
        async with self._lock(guild.id):
            before = self._uses.get(guild.id)
            after = await self._fetch(guild)
            if after is None:
                self._uses.pop(guild.id, None)
            else:
                self._uses[guild.id] = after
            found = attribute(before, after)
            async with self._database.transaction() as store:
                invite = (
                    await store.server_joins.invite_by_code(found.code)
                    if found.code and found.reason is None
                    else None
                )
                reason = found.reason or (None if invite is not None else "other")
                join, created = await store.server_joins.record_join(
                    NewJoin(
                        guild_id=str(guild.id),
                        member_id=str(member.id),
                        joined_at=self._clock(),
                        affiliate_id=invite.affiliate_id if invite else None,
                        program_id=invite.program_id if invite else None,
                        invite_code=found.code,
                        unattributed_reason=reason,
                    )
                )
        if created and invite is not None and found.code is not None:
            await self._screen(invite, found.code, str(member.id))
        log.info(
            "member %s joined server %s: %s%s",
            member.id,
            guild.id,
            f"affiliate {join.affiliate_id}" if join.affiliate_id else "unattributed",
            "" if created else " (already recorded)",
        )

    async def _screen(self, invite: ServerInvite, code: str, member_id: str) -> None:
        """Never rewarded, but screened like signups for referral farming; in its own
        transaction after the join is stored, so a fraud failure never loses a join."""
        try:
            async with self._database.transaction() as store:
                await screen_join(
                    store,
                    affiliate_id=invite.affiliate_id,
                    program_id=invite.program_id,
                    invite_code=code,
                    member_id=member_id,
                    rules=self._fraud,
                    now=self._clock(),
                )
        except Exception:
            log.exception("could not screen the join of %s for referral farming", member_id)

    async def member_left(self, guild_id: int, user_id: int) -> None:
        if not self.tracks(guild_id):
            return
        async with self._database.transaction() as store:
            join = await store.server_joins.record_leave(
                str(guild_id), str(user_id), now=self._clock()
            )
        log.info(
            "member %s left server %s: %s",
            user_id,
            guild_id,
            "not recorded" if join is None else f"join marked {join.status}",
        )

    async def reply_for_link(
        self, guild: discord.Guild, actor: Actor, program_slug: str
    ) -> Reply | None:
        """The affiliate's personal invite to this server, for programs that enable it.

        Only once ``/link`` itself succeeded (the affiliate has a link for the program), so
        refusals stay refusals. The invite is created once and reused afterwards.
        """
        if not self.tracks(guild.id):
            return None
        async with self._database.read() as store:
            program = await store.programs.by_slug(program_slug.lower())
            affiliate = await store.affiliates.by_identity(PLATFORM, actor.user_id)
            if program is None or affiliate is None:
                return None
            if not program.settings.get(INVITES_SETTING) or program.status != "active":
                return None
            membership = await store.affiliates.membership(affiliate.id, program.id)
            links = await store.links.of_affiliate(affiliate.id)
            stored = await store.server_joins.invite_of(affiliate.id, str(guild.id))
        eligible = (
            affiliate.status == "active"
            and membership is not None
            and membership.status == "approved"
            and any(link.program_id == program.id for link in links)
        )
        if not eligible:
            return None
        if stored is None:
            stored = await self._create(guild, affiliate.id, program.id)
            if stored is None:
                return None
        async with self._database.read() as store:
            counts = await store.server_joins.counts_for_affiliate(affiliate.id)
        url = INVITE_URL.format(code=stored.code)
        return Reply(
            title=f"Your invite to {guild.name}",
            text=(
                "People who join the server through this invite are counted for you. "
                "Joins are shown, never rewarded: Discord does not allow paying for "
                "server invites."
            ),
            fields=(
                Field("Invite", url, inline=False),
                Field("Joined", str(counts.joined)),
                Field("Left again", str(counts.left)),
            ),
            buttons=(Button("Server invite", url),),
            visibility=Visibility.PRIVATE,
        )

    async def _create(
        self, guild: discord.Guild, affiliate_id: int, program_id: int
    ) -> ServerInvite | None:
        channel = self._invite_channel(guild)
        if channel is None:
            log.warning("server %s has no channel to create invites in", guild.id)
            return None
        async with self._lock(guild.id):
            invite = await channel.create_invite(
                max_age=0,
                max_uses=0,
                unique=True,
                reason=f"affbot: personal invite of affiliate {affiliate_id}",
            )
            if guild.id in self._uses:
                self._uses[guild.id][invite.code] = invite.uses or 0
            async with self._database.transaction() as store:
                return await store.server_joins.save_invite(
                    ServerInvite(
                        code=invite.code,
                        guild_id=str(guild.id),
                        channel_id=str(channel.id),
                        affiliate_id=affiliate_id,
                        program_id=program_id,
                        created_at=self._clock(),
                    )
                )

    def _invite_channel(self, guild: discord.Guild) -> discord.TextChannel | None:
        for channel_id in self._invite_channel_ids:
            channel = guild.get_channel(channel_id)
            if isinstance(channel, discord.TextChannel):
                return channel
        if guild.system_channel is not None:
            return guild.system_channel
        return guild.text_channels[0] if guild.text_channels else None

    async def _fetch(self, guild: discord.Guild) -> dict[str, int] | None:
        try:
            invites = await guild.invites()
        except discord.Forbidden:
            log.warning(
                "cannot read invites of server %s (the bot needs Manage Server); joins there "
                "are recorded as unattributed",
                guild.id,
            )
            return None
        except (discord.HTTPException, aiohttp.ClientError, OSError):
            log.exception("could not read invites of server %s", guild.id)
            return None
        return {invite.code: invite.uses or 0 for invite in invites}
