"""The real Discord adapter running against the fake Discord, for end-to-end tests.

``running_bot()`` starts a fake with one server (an owner, a manager role, an admin with
Manage Server, and two ordinary members), starts ``DiscordAdapter`` against it and waits
until the gateway is ready; on exit it stops both and checks that discord.py's global
endpoints were restored.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.adapters.discord.client import DiscordAdapter
from bot.config import DiscordConfig
from commands.core.dispatcher import Dispatcher
from commands.core.invocation import Services
from commands.fraud import FraudRules
from tests.fakes.discord import FakeDiscord, Sent
from tests.fakes.discord_payloads import MANAGE_GUILD, FakeGuild, FakeMember, FakeRole


@dataclass
class Bot:
    fake: FakeDiscord
    guild: FakeGuild
    adapter: DiscordAdapter
    services: Services
    manager_role: FakeRole
    manager: FakeMember  # has the configured manager role
    admin: FakeMember  # has Manage Server, no manager role
    alice: FakeMember
    bob: FakeMember

    async def run(
        self,
        member: FakeMember,
        command: str,
        options: dict[str, Any] | None = None,
        *,
        count: int = 1,
        in_dm: bool = False,
    ) -> list[Sent]:
        """Use a slash command as ``member`` and return the visible answers."""
        interaction = await self.fake.slash(
            None if in_dm else self.guild, member, command, options
        )
        return await self.fake.answer(interaction, count)

    async def one(
        self, member: FakeMember, command: str, options: dict[str, Any] | None = None
    ) -> Sent:
        answers = await self.run(member, command, options)
        assert len(answers) == 1, answers
        return answers[0]


@asynccontextmanager
async def running_bot(
    services: Services,
    *,
    guild_commands: bool = True,
    track_invites: bool = True,
    defer_after: float = 2.0,
    shard_count: int | None = None,
    heartbeat_ms: int = 41_250,
    extra_roles: tuple[str, ...] = (),
    fraud: FraudRules | None = None,
) -> AsyncIterator[Bot]:
    fake = FakeDiscord()
    fake.gateway.heartbeat_interval_ms = heartbeat_ms
    guild = fake.add_guild("Affiliate Hub")
    manager_role = fake.add_role(guild, "Program team")
    admin_role = fake.add_role(guild, "Admins", MANAGE_GUILD)
    for name in extra_roles:  # roles the test maps to rewards, known to the bot at start
        fake.add_role(guild, name)
    manager = fake.add_member(guild, "maya", roles=(manager_role,))
    admin = fake.add_member(guild, "adam", roles=(admin_role,))
    alice = fake.add_member(guild, "alice")
    bob = fake.add_member(guild, "bob")
    await fake.start()
    saved = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    config = DiscordConfig(
        token=fake.token,
        api_base_url=fake.api_base_url,
        gateway_url=fake.gateway_url,
        guild_ids=[int(guild.id)] if guild_commands else [],
        manager_role_ids=[int(manager_role.id)],
        shard_count=shard_count,
        track_invites=track_invites,
    )
    adapter = DiscordAdapter(
        config,
        Dispatcher(services.registry, services),
        clock=services.clock,
        fraud=fraud or FraudRules(),
        guild_ready_timeout=0.05,
        defer_after=defer_after,
        identify_spacing=0.0,
    )
    task = asyncio.create_task(adapter.run())
    try:
        await asyncio.wait_for(adapter.wait_until_ready(), 10)
        yield Bot(fake, guild, adapter, services, manager_role, manager, admin, alice, bob)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await fake.close()
        restored = saved == (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved
        assert restored, "the adapter left discord.py pointed at the fake"
