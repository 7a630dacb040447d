"""Answering slash commands: who is asking, the dispatcher call, deferral and sending.

Discord gives an interaction three seconds for its first response. The dispatcher runs as a
task; if it has not finished after ``defer_after`` seconds the interaction is deferred
(Discord shows "thinking…", ephemeral when the command's replies are private) and the
replies follow up when they are ready.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import discord

from bot.adapters.discord.render import render
from bot.adapters.discord.slash import option_values
from commands.core.dispatcher import Dispatcher
from commands.core.invocation import Actor, ChatKind
from commands.core.registry import CommandSpec
from commands.core.reply import Reply
from commands.core.who import label

if TYPE_CHECKING:
    from bot.adapters.discord.invites import InviteTracker

log = logging.getLogger(__name__)

PLATFORM = "discord"
# Well inside Discord's 3 s window, leaving time for the defer request itself.
DEFER_AFTER = 2.0
SUGGESTION_LIMIT = 25


def actor_for(interaction: discord.Interaction, manager_role_ids: Sequence[int]) -> Actor:
    """The caller as the core sees them; managers by configured role or Manage Server.

    In direct messages nobody is a manager: there is no server whose roles could say so.
    """
    user = interaction.user
    is_manager = False
    if interaction.guild_id is not None and isinstance(user, discord.Member):
        permissions = interaction.permissions
        by_permission = permissions.administrator or permissions.manage_guild
        by_role = any(role.id in manager_role_ids for role in user.roles)
        is_manager = by_permission or by_role
    return Actor(PLATFORM, str(user.id), user.display_name, is_manager=is_manager)


class InteractionRunner:
    """Runs one slash command through the dispatcher and answers the interaction."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        manager_role_ids: Sequence[int],
        invites: InviteTracker | None = None,
        defer_after: float = DEFER_AFTER,
    ) -> None:
        self._dispatcher = dispatcher
        self._manager_role_ids = tuple(manager_role_ids)
        self._invites = invites
        self._defer_after = defer_after

    async def run(
        self, interaction: discord.Interaction, spec: CommandSpec, values: dict[str, Any]
    ) -> None:
        actor = actor_for(interaction, self._manager_role_ids)
        options = option_values(values)
        work = asyncio.create_task(self._replies(interaction, spec, options, actor))
        done, _ = await asyncio.wait({work}, timeout=self._defer_after)
        deferred = not done
        if deferred:
            try:
                await interaction.response.defer(ephemeral=spec.private, thinking=True)
            except discord.HTTPException:
                # Too late or refused: the work still finishes (it may have written), and
                # sending below will fail and be logged rather than leave a dangling task.
                log.exception("could not defer /%s for %s", spec.name, actor.label)
        replies = await work
        await self._send(interaction, replies, deferred=deferred)

    async def _replies(
        self,
        interaction: discord.Interaction,
        spec: CommandSpec,
        options: dict[str, object],
        actor: Actor,
    ) -> list[Reply]:
        in_guild = interaction.guild_id is not None
        replies = await self._dispatcher.execute(
            spec,
            options,
            actor,
            ChatKind.GROUP if in_guild else ChatKind.PRIVATE,
            chat_id=str(interaction.channel_id) if interaction.channel_id else None,
        )
        if spec.name == "link" and self._invites is not None and interaction.guild is not None:
            try:
                extra = await self._invites.reply_for_link(
                    interaction.guild, actor, str(options.get("program") or "")
                )
            except (discord.HTTPException, OSError):
                # The link itself is what the affiliate asked for; the invite can wait.
                log.exception("could not hand out a server invite to %s", actor.label)
                extra = None
            if extra is not None:
                replies.append(extra)
        return replies

    async def _send(
        self, interaction: discord.Interaction, replies: list[Reply], *, deferred: bool
    ) -> None:
        for index, reply in enumerate(replies):
            rendered = render(reply)
            kwargs = rendered.send_kwargs()
            if index == 0 and not deferred:
                await interaction.response.send_message(ephemeral=rendered.ephemeral, **kwargs)
            else:
                await interaction.followup.send(ephemeral=rendered.ephemeral, **kwargs)

    async def suggest(
        self, interaction: discord.Interaction, source: str, current: str
    ) -> list[tuple[str, str]]:
        """Autocomplete (label, value) pairs for a parameter's suggestion source.

        Affiliates are suggested to managers only, by name or alias on any platform, and
        sent as ``#id`` so the core resolves exactly the one that was picked.
        """
        actor = actor_for(interaction, self._manager_role_ids)
        typed = current.strip().lower()
        if source == "affiliate":
            if not actor.is_manager:
                return []
            async with self._dispatcher.services.database.read() as store:
                affiliates = await store.affiliates.all_affiliates()
            found = [
                (label(affiliate), f"#{affiliate.id}")
                for affiliate in affiliates
                if typed
                in f"#{affiliate.id} {affiliate.display_name} {affiliate.alias or ''}".lower()
            ]
            return found[:SUGGESTION_LIMIT]
        if source != "program":
            log.debug("no suggestions for autocomplete source %r", source)
            return []
        async with self._dispatcher.services.database.read() as store:
            programs = await store.programs.list(status=None if actor.is_manager else "active")
        matches = [
            program.slug
            for program in programs
            if typed in program.slug or typed in program.name.lower()
        ]
        matches.sort(key=lambda slug: (not slug.startswith(typed), slug))
        return [(slug, slug) for slug in matches[:SUGGESTION_LIMIT]]
