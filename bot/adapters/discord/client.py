"""The Discord adapter: a discord.py client built from config, its slash commands and events.

``DiscordAdapter.run()`` logs in, syncs the slash commands generated from the registry
(to the configured servers, else globally), connects to the gateway and answers
interactions until cancelled. discord.py keeps its REST root and gateway URL in class
attributes; ``endpoints()`` points them at the configured URLs for the adapter's lifetime
and restores them afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from typing import Any, Protocol

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.adapters.discord.delivery import DiscordSender
from bot.adapters.discord.invites import InviteTracker
from bot.adapters.discord.respond import DEFER_AFTER, InteractionRunner
from bot.adapters.discord.roles import RoleSync
from bot.adapters.discord.slash import build_commands
from bot.config import DiscordConfig
from commands.core.dispatcher import Dispatcher
from commands.core.registry import CommandSpec
from commands.fraud import FraudRules

log = logging.getLogger(__name__)

# discord.py waits out shorter rate limits itself; longer ones raise RateLimited (its
# minimum allowed value), which delivery turns into a reschedule.
MAX_RATELIMIT_WAIT = 30.0
# On shutdown, handlers still writing (a join, a reply's bookkeeping) get this long.
SHUTDOWN_GRACE = 5.0
# discord.py names the task of every dispatched event ``discord.py: <event>``.
EVENT_TASK_PREFIX = "discord.py: "
# Seconds between shard IDENTIFYs: Discord's identify limit for max_concurrency 1.
IDENTIFY_SPACING = 5.0


@contextlib.contextmanager
def endpoints(api_base_url: str, gateway_url: str) -> Iterator[None]:
    """Point discord.py at a REST root and gateway (process-global), restoring on exit."""
    saved = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    Route.BASE = api_base_url.rstrip("/")
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    try:
        yield
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved


class DiscordStartError(OSError):
    """The token was refused or Discord was unreachable at start-up (one line for the
    operator; the command line reports OSErrors without a traceback)."""


# What discord.py raises when it cannot log in or connect for good (with reconnect on,
# passing network trouble is retried inside ``Client.start``).
_START_FAILURES = (
    discord.LoginFailure,
    discord.PrivilegedIntentsRequired,
    discord.ConnectionClosed,
    discord.GatewayNotFound,
    discord.HTTPException,
    aiohttp.ClientError,
    OSError,
)


def _start_error(error: BaseException, config: DiscordConfig) -> DiscordStartError:
    """One line saying what failed and what to check, for the operator."""
    if isinstance(error, discord.LoginFailure):
        return DiscordStartError(
            "discord: the bot token was refused (check discord.token / DISCORD_TOKEN)"
        )
    if isinstance(error, discord.PrivilegedIntentsRequired):
        return DiscordStartError(
            "discord: the gateway refused the Server Members intent: enable it for the bot in "
            "the Discord developer portal, or set discord.track_invites = false"
        )
    if isinstance(error, discord.ConnectionClosed):
        return DiscordStartError(
            f"discord: the gateway at {config.gateway_url} closed the connection "
            f"(code {error.code}); check discord.gateway_url and the bot's settings"
        )
    if isinstance(error, discord.HTTPException):
        return DiscordStartError(
            f"discord: the API at {config.api_base_url} answered {error.status} "
            f"({error.text or error.__class__.__name__}) while starting up"
        )
    detail = str(error) or type(error).__name__
    return DiscordStartError(
        f"discord: cannot reach the API at {config.api_base_url}: {detail} "
        "(check discord.api_base_url and the network)"
    )


@contextlib.asynccontextmanager
async def delivery_sender(config: DiscordConfig) -> AsyncIterator[DiscordSender]:
    """A sender for ``affbot deliver``: REST only, no gateway connection.

    Creating DMs and posting messages are plain REST calls, so a logged-in client that
    never connects to the gateway can deliver; the gateway (slash commands, invites) stays
    with the adapter in ``affbot run``, which a second connection would only duplicate.
    ``endpoints()`` is process-global and stays entered while the sender is in use.
    """
    token = config.token.get_secret_value() if config.token else ""
    if not token:
        raise ValueError("discord.token is not set")
    with endpoints(config.api_base_url, config.gateway_url):
        client = discord.Client(
            intents=discord.Intents.none(),
            allowed_mentions=discord.AllowedMentions.none(),
            max_ratelimit_timeout=MAX_RATELIMIT_WAIT,
        )
        try:
            await client.login(token)
        except _START_FAILURES as error:
            await client.close()
            raise _start_error(error, config) from None
        try:
            yield DiscordSender(client)
        finally:
            await client.close()


class _Hooks(Protocol):
    async def setup(self) -> None: ...
    async def ready(self) -> None: ...
    async def guild_joined(self, guild: discord.Guild) -> None: ...
    async def member_joined(self, member: discord.Member) -> None: ...
    async def member_left(self, payload: discord.RawMemberRemoveEvent) -> None: ...
    def invite_created(self, invite: discord.Invite) -> None: ...
    def invite_deleted(self, invite: discord.Invite) -> None: ...


class _Events(discord.Client):
    """The client's event methods, forwarded to the adapter (shared by both client kinds)."""

    hooks: _Hooks

    def dispatch(self, event: str, /, *args: Any, **kwargs: Any) -> None:
        """Drop events raised after ``close()`` began.

        discord.py keeps some of its own tasks running through ``close()`` (the one that
        waits for guilds before ``on_ready``, for one); closing clears the client's loop,
        so an event they raise then would make a handler coroutine that is never run and
        is reported as "never awaited" when it is collected. A closing client has nobody
        left to tell.
        """
        if self.is_closed():
            return
        super().dispatch(event, *args, **kwargs)

    async def setup_hook(self) -> None:
        await self.hooks.setup()

    async def on_ready(self) -> None:
        await self.hooks.ready()

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.hooks.guild_joined(guild)

    async def on_member_join(self, member: discord.Member) -> None:
        await self.hooks.member_joined(member)

    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        await self.hooks.member_left(payload)

    async def on_invite_create(self, invite: discord.Invite) -> None:
        self.hooks.invite_created(invite)

    async def on_invite_delete(self, invite: discord.Invite) -> None:
        self.hooks.invite_deleted(invite)


class AffbotClient(_Events):
    def __init__(self, hooks: _Hooks, **options: Any) -> None:
        self.hooks = hooks
        super().__init__(**options)


class ShardedAffbotClient(_Events, discord.AutoShardedClient):
    def __init__(self, hooks: _Hooks, *, identify_spacing: float, **options: Any) -> None:
        self.hooks = hooks
        self.identify_spacing = identify_spacing
        super().__init__(**options)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # Discord allows one IDENTIFY per 5 s (max_concurrency 1); a local gateway needs no wait.
        if not initial:
            await asyncio.sleep(self.identify_spacing)


def intents(config: DiscordConfig) -> discord.Intents:
    """Only what the bot uses: server data, plus members and invites for invite tracking.

    Server Members is privileged: it must be switched on in the developer portal, so it is
    requested only when ``track_invites`` is on.
    """
    wanted = discord.Intents.none()
    wanted.guilds = True
    if config.track_invites:
        wanted.members = True
        wanted.invites = True
    return wanted


class DiscordAdapter:
    """Slash commands, invite tracking and the outbox sender for one bot token."""

    platform = "discord"

    def __init__(
        self,
        config: DiscordConfig,
        dispatcher: Dispatcher,
        *,
        clock: Callable[[], datetime],
        fraud: FraudRules,
        guild_ready_timeout: float = 2.0,
        defer_after: float = DEFER_AFTER,
        identify_spacing: float = IDENTIFY_SPACING,
    ) -> None:
        if config.token is None or not config.token.get_secret_value():
            raise ValueError("discord.token is not set")
        self._config = config
        options: dict[str, Any] = {
            "intents": intents(config),
            "allowed_mentions": discord.AllowedMentions.none(),
            "max_ratelimit_timeout": MAX_RATELIMIT_WAIT,
            "guild_ready_timeout": guild_ready_timeout,
            "chunk_guilds_at_startup": False,
        }
        self.client: discord.Client
        if config.shard_count is not None and config.shard_count > 1:
            self.client = ShardedAffbotClient(
                self,
                shard_count=config.shard_count,
                identify_spacing=identify_spacing,
                **options,
            )
        else:
            self.client = AffbotClient(self, **options)
        self.tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(self.client)
        self.tree.on_error = self._command_failed  # type: ignore[method-assign]
        database = dispatcher.services.database
        self.invites = (
            InviteTracker(
                self.client,
                database,
                clock=clock,
                guild_ids=config.guild_ids,
                invite_channel_ids=config.invite_channel_ids,
                fraud=fraud,
            )
            if config.track_invites
            else None
        )
        self.runner = InteractionRunner(
            dispatcher,
            manager_role_ids=config.manager_role_ids,
            invites=self.invites,
            defer_after=defer_after,
        )
        for command in build_commands(dispatcher.registry, self._run_command, self.runner.suggest):
            self.tree.add_command(command)
        self._busy: set[asyncio.Task[Any]] = set()
        self.sender = DiscordSender(self.client)
        self.roles = RoleSync(self.client, database, clock=clock)
        self._roles_task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def run(self) -> None:
        """Log in, sync commands, serve the gateway until cancelled; always closes.

        Raises:
            DiscordStartError: the token was refused or Discord cannot be reached or
                refused the connection for good (one line for the operator).
        """
        token = self._config.token.get_secret_value() if self._config.token else ""
        with endpoints(self._config.api_base_url, self._config.gateway_url):
            try:
                await self.client.start(token, reconnect=True)
            except _START_FAILURES as error:
                raise _start_error(error, self._config) from None
            finally:
                if self._roles_task is not None:
                    self._roles_task.cancel()
                    await asyncio.gather(self._roles_task, return_exceptions=True)
                if not self.client.is_closed():
                    await self.client.close()
                await self._drain()

    @contextlib.asynccontextmanager
    async def _tracked(self) -> AsyncIterator[None]:
        """Mark the current event handler busy, so shutdown lets it finish its writes."""
        task = asyncio.current_task()
        if task is not None:
            self._busy.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._busy.discard(task)

    async def _drain(self) -> None:
        """Let running handlers finish their writes, and let the events discord.py
        dispatched while closing run: a task scheduled in the last moments of the loop and
        never started would be dropped (and warned about) when the loop ends."""
        current = asyncio.current_task()
        pending = {task for task in self._busy if task is not current}
        if pending:
            log.info("waiting for %d Discord handlers to finish", len(pending))
            await asyncio.wait(pending, timeout=SHUTDOWN_GRACE)
        dispatched = {
            task
            for task in asyncio.all_tasks()
            if task is not current and task.get_name().startswith(EVENT_TASK_PREFIX)
        }
        if dispatched:
            _, late = await asyncio.wait(dispatched, timeout=SHUTDOWN_GRACE)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _run_command(
        self, interaction: discord.Interaction, spec: CommandSpec, values: dict[str, Any]
    ) -> None:
        async with self._tracked():
            await self.runner.run(interaction, spec, values)

    async def wait_until_ready(self) -> None:
        """Until the gateway is ready and invite counts are known (tests, delivery)."""
        await self._ready.wait()

    # Hooks called by the client.

    async def setup(self) -> None:
        """Sync the slash commands: per configured server (instant), else globally."""
        try:
            if self._config.guild_ids:
                for guild_id in self._config.guild_ids:
                    guild = discord.Object(guild_id)
                    self.tree.copy_global_to(guild=guild)
                    synced = await self.tree.sync(guild=guild)
                    log.info("synced %d slash commands to server %s", len(synced), guild_id)
            else:
                synced = await self.tree.sync()
                log.info("synced %d global slash commands", len(synced))
        except discord.HTTPException:
            # Commands registered by an earlier start keep working; say so loudly.
            log.exception("could not sync slash commands; the previous set stays in place")

    async def ready(self) -> None:
        user = self.client.user
        log.info("Discord: logged in as %s in %d servers", user, len(self.client.guilds))
        if self.invites is not None:
            for guild in self.client.guilds:
                await self.invites.prime(guild)
        if self._roles_task is None:
            self._roles_task = asyncio.create_task(self.roles.run())
        self._ready.set()

    async def guild_joined(self, guild: discord.Guild) -> None:
        if self.invites is not None:
            async with self._tracked():
                await self.invites.prime(guild)

    async def member_joined(self, member: discord.Member) -> None:
        if self.invites is not None:
            async with self._tracked():
                await self.invites.member_joined(member)

    async def member_left(self, payload: discord.RawMemberRemoveEvent) -> None:
        if self.invites is not None:
            async with self._tracked():
                await self.invites.member_left(payload.guild_id, payload.user.id)

    def invite_created(self, invite: discord.Invite) -> None:
        if self.invites is not None:
            self.invites.invite_created(invite)

    def invite_deleted(self, invite: discord.Invite) -> None:
        if self.invites is not None:
            self.invites.invite_deleted(invite)

    async def _command_failed(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        command = interaction.command.qualified_name if interaction.command else "?"
        log.error("slash command /%s failed", command, exc_info=error)
