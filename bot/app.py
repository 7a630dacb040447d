"""The composition root: the one place that builds storage, services and adapters.

``affbot run`` and ``affbot console`` both come through here, so every process wires the
same core the same way, and nothing else constructs concrete adapters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import stat
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TextIO

from aiohttp import web

from bot.adapters.console import ANNOUNCEMENTS as CONSOLE_ANNOUNCEMENTS
from bot.adapters.console import PLATFORM as CONSOLE
from bot.adapters.console import ConsoleAdapter
from bot.adapters.console_delivery import ConsoleSender
from bot.adapters.delivery import Sender, TargetKind
from bot.config import Config
from bot.database_check import open_database
from bot.delivery.dispatcher import DispatchSettings, OutboxDispatcher
from bot.delivery.runtime import DeliveryService, limits
from bot.delivery.standalone import delivered_platforms
from bot.delivery.supervisor import DeliveryProcess
from bot.scheduler import ScheduleService, audiences_from_config, default_schedules
from bot.web import build_web_app
from commands.core import catalog
from commands.core.cooldown import CommandLimits
from commands.core.dispatcher import Dispatcher
from commands.core.invocation import Services, Settings
from commands.fraud import FraudRules
from commands.tracking import TrackingRules
from storage import Database
from storage.migrate import upgrade

if TYPE_CHECKING:
    from bot.adapters.discord.client import DiscordAdapter
    from bot.adapters.telegram import TelegramAdapter
    from commands.core.reply import Reply

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Core:
    """What every entry point needs: the database, services, the command dispatcher, and
    the rules conversions, clicks and referrals are judged by."""

    config: Config
    database: Database
    services: Services
    dispatcher: Dispatcher
    rules: TrackingRules


@contextlib.asynccontextmanager
async def open_core(
    config: Config, *, clock: Callable[[], datetime] = utc_now, console: bool = False
) -> AsyncIterator[Core]:
    """Connect, migrate to the newest schema, and close the database on the way out.

    With ``console`` the console's own announcement chat is one of the announcement
    targets, so /announce and program notices show there too.
    """
    database = await open_database(config.database.url.get_secret_value())
    try:
        await upgrade(database)
        services = Services(
            database=database,
            settings=Settings(
                public_base_url=config.web.public_base_url,
                timezone=config.zone,
                announce_targets=announce_targets(config, console=console),
                rewards=config.reward_defaults,
                announce_ping_role=(
                    str(config.discord.announce_ping_role_id)
                    if config.discord.announce_ping_role_id
                    else None
                ),
                ip_hash_salt=ip_hash_salt(config),
            ),
            clock=clock,
            registry=catalog.load(),
        )
        limits = CommandLimits(config.commands.rate_per_minute, config.commands.burst)
        dispatcher = Dispatcher(services.registry, services, limits)
        yield Core(config, database, services, dispatcher, tracking_rules(config))
    finally:
        await database.close()


async def run_console(
    config: Config,
    *,
    user: str,
    manager: bool,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> None:
    """``affbot console``: the console adapter, no servers.

    The bot's messages for the console are printed after each command. When no chat
    platform is configured the console is the whole bot, so the scheduler runs too
    (scheduled posts, cap alerts, digests); beside a bot that has chat platforms it does
    not, or it would claim their schedule runs for the console alone.
    """
    # The scheduler's audiences read who the console operator is from config.
    console = config.console.model_copy(update={"user": user, "manager": manager})
    config = config.model_copy(update={"console": console})
    async with open_core(config, console=True) as core:
        adapter = ConsoleAdapter(
            core.dispatcher, user=user, manager=manager, stdin=stdin, stdout=stdout
        )
        sender = ConsoleSender(adapter.render, stdout=stdout)
        adapter.deliver = console_delivery(core, sender)
        background = None
        if not delivered_platforms(config) and config.schedules.enabled:
            background = await start_background(
                core, [sender], console_user=user, platforms=frozenset({CONSOLE})
            )
        try:
            await adapter.run()
        finally:
            if background is not None:
                await background.stop()


async def run_bot(config: Config, *, console: bool | None = None) -> None:
    """``affbot run``: every configured component until SIGINT/SIGTERM (or console EOF).

    Start order: the tracking server, the chat adapters, then the outbox dispatchers and
    the scheduler (which need the adapters' senders). Stop order is the reverse, so queued
    deliveries finish while the adapters can still send and the click buffer is flushed
    last, after nothing can produce clicks any more.

    With ``[delivery] separate_process`` (the default) Telegram and Discord messages are
    delivered by a supervised ``affbot deliver`` child, so a broadcast never shares the
    tracking server's event loop; only the console's dispatcher runs here.

    Args:
        console: open the console adapter; ``None`` opens it when no platform token is
            configured and stdin is a terminal, a pipe or a file (piped commands run one
            per line, and the bot stops at the end of the input).
    """
    platforms = delivered_platforms(config)
    console = _wants_console(console, platforms)
    async with open_core(config, console=console) as core:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        # The app's cleanup flushes the click buffer, so runner.cleanup() loses no click.
        web_app = build_web_app(core.services, config.tracking, core.rules)
        telegram = _telegram_adapter(config, core, web_app) if "telegram" in platforms else None
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        tasks: list[asyncio.Task[None]] = []
        senders: list[Sender] = []  # one outbox sender per chat adapter delivering here
        child = DeliveryProcess(config) if _delivers_elsewhere(config) else None
        background: Background | None = None
        try:
            await web.TCPSite(runner, config.web.host, config.web.port).start()
            for host, port, *_ in runner.addresses:
                log.info("tracking server listening on http://%s:%s", host, port)
            log.info("referral links use %s", config.web.public_base_url)
            chat_senders = await _start_chat_adapters(core, telegram, stop, tasks)
            senders += chat_senders if child is None else []  # else the child delivers them
            if console:
                senders.append(_start_console(core, stop, tasks))
            elif not platforms:
                log.warning(
                    "no chat adapter configured (set DISCORD_TOKEN or TELEGRAM_TOKEN, or run "
                    "in a terminal or pipe commands in for the console); standard input is "
                    "not read; serving the tracking server only"
                )
            if child is not None:
                await child.start()
            background = await start_background(
                core,
                senders,
                console_user=config.console.user if console else None,
                platforms=frozenset(platforms) | ({"console"} if console else set()),
                also_wake=child.wake if child is not None else None,
            )
            await stop.wait()
        finally:
            log.info("stopping")
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            if background is not None:
                await background.stop()
            if child is not None:  # after the scheduler, before the adapters close
                await child.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if telegram is not None:
                await telegram.stop()
            await runner.cleanup()
        _raise_what_stopped(tasks)


class AdapterStopped(OSError):
    """A chat adapter ended on an error, so ``affbot run`` stopped (one line for the
    operator, who finds the details in the log above it)."""


def _raise_what_stopped(tasks: list[asyncio.Task[None]]) -> None:
    """Make an adapter that ended on an error the outcome of ``affbot run``: the process
    then exits non-zero with one line instead of looking like a clean stop."""
    for task in tasks:
        if task.cancelled() or not task.done() or task.exception() is None:
            continue
        error = task.exception()
        if isinstance(error, OSError):  # DiscordStartError: already one line
            raise error
        raise AdapterStopped(
            f"{task.get_name()}: stopped on {type(error).__name__}: {error} (see the log above)"
        )


@dataclass
class Background:
    """The outbox dispatchers and the scheduler: started together, stopped together."""

    delivery: DeliveryService
    schedules: ScheduleService | None

    async def stop(self) -> None:
        if self.schedules is not None:
            await self.schedules.stop()
        await self.delivery.stop()


async def start_background(
    core: Core,
    senders: list[Sender],
    *,
    console_user: str | None = None,
    platforms: frozenset[str] | None = None,
    also_wake: Callable[[], None] | None = None,
) -> Background:
    """Start delivering the outbox through ``senders`` and firing schedules.

    Args:
        platforms: the platforms schedules post to; by default those of ``senders``
            (``affbot run`` passes them when another process delivers for some).
        also_wake: called with the local dispatchers' wake when schedules queue messages
            (the delivery child's wake).
    """
    config = core.config
    delivery = DeliveryService(
        core.database,
        config.delivery,
        senders if config.delivery.enabled else [],
        clock=core.services.clock,
    )
    delivery.start()
    schedules = None
    if platforms is None:
        platforms = frozenset(s.platform for s in senders)
    on_queued = delivery.wake
    if also_wake is not None:
        extra = also_wake

        def on_queued() -> None:
            delivery.wake()
            extra()

    if config.schedules.enabled:
        schedules = ScheduleService(
            core.database,
            # Every platform with an adapter here, delivered by this process or another one
            # sharing the database ([delivery] enabled = false in all but one, say).
            audiences_from_config(config, platforms, console_user=console_user),
            grace=timedelta(hours=config.schedules.catch_up_hours),
            reload_seconds=config.schedules.reload_seconds,
            clock=core.services.clock,
            on_queued=on_queued,
            cap_alert_seconds=config.schedules.cap_alert_seconds,
            digest_cron=config.schedules.digest_cron,
            fraud=core.rules.fraud,
            timezone=config.timezone,
        )
        await schedules.start(default_schedules(config))
    return Background(delivery, schedules)


class _AfterReady:
    """A sender that waits until its adapter is connected before the first send."""

    def __init__(self, sender: Sender, adapter: DiscordAdapter) -> None:
        self.platform = sender.platform
        self._sender = sender
        self._adapter = adapter

    async def send(
        self, target_kind: TargetKind, target_id: str, reply: Reply, *, dedupe_key: str
    ) -> None:
        await self._adapter.wait_until_ready()
        await self._sender.send(target_kind, target_id, reply, dedupe_key=dedupe_key)


def _delivers_elsewhere(config: Config) -> bool:
    """Whether a supervised ``affbot deliver`` child sends Telegram/Discord messages."""
    delivery = config.delivery
    return delivery.separate_process and delivery.enabled and bool(delivered_platforms(config))


async def _start_chat_adapters(
    core: Core,
    telegram: TelegramAdapter | None,
    stop: asyncio.Event,
    tasks: list[asyncio.Task[None]],
) -> list[Sender]:
    """Start Telegram and Discord (when configured); their outbox senders."""
    senders: list[Sender] = []
    if telegram is not None:
        await telegram.start()
        senders.append(telegram.sender)
    if "discord" in delivered_platforms(core.config):
        discord_adapter, discord_task = _start_discord(core, stop)
        tasks.append(discord_task)
        senders.append(_AfterReady(discord_adapter.sender, discord_adapter))
    return senders


def _telegram_adapter(config: Config, core: Core, web_app: web.Application) -> TelegramAdapter:
    """The Telegram adapter; in webhook mode its route joins the tracking server's app."""
    from bot.adapters.telegram import TelegramAdapter, register_webhook_routes

    adapter = TelegramAdapter(config.telegram, core.dispatcher, fraud=core.rules.fraud)
    if config.telegram.webhook_url:
        register_webhook_routes(web_app, adapter)
    return adapter


def _start_discord(core: Core, stop: asyncio.Event) -> tuple[DiscordAdapter, asyncio.Task[None]]:
    """Run the Discord adapter; if it ends (bad token, lost for good) the process stops."""
    from bot.adapters.discord.client import DiscordAdapter

    adapter = DiscordAdapter(
        core.config.discord, core.dispatcher, clock=core.services.clock, fraud=core.rules.fraud
    )
    task = asyncio.create_task(adapter.run(), name="discord")

    def ended(finished: asyncio.Task[None]) -> None:
        error = None if finished.cancelled() else finished.exception()
        if isinstance(error, OSError):  # DiscordStartError: run_bot raises it, one line
            log.debug("the Discord adapter stopped: %s", error)
        elif error is not None:  # a bug: the traceback is for whoever fixes it
            log.error("the Discord adapter stopped", exc_info=error)
        stop.set()

    task.add_done_callback(ended)
    return adapter, task


def tracking_rules(config: Config) -> TrackingRules:
    """The rules conversions, clicks and referrals are judged by, built once per process.

    The tracking server, the importer, the chat adapters (signup referrals) and the
    scheduler all take them from ``Core.rules``; the server adds the instance's IP hash
    salt when it has settled it.
    """
    return TrackingRules(
        zone=config.zone,
        alert_percents=tuple(config.tracking.cap_alert_percents),
        rewards=config.reward_defaults,
        fraud=fraud_rules(config),
        announce_targets=announce_targets(config),
    )


def fraud_rules(config: Config) -> FraudRules:
    """The ``[fraud]`` thresholds, with managers' private chats as the alert targets."""
    section = config.fraud
    targets: list[tuple[str, str, TargetKind]] = [
        ("telegram", str(user), "user") for user in config.telegram.manager_user_ids
    ]
    targets += [("discord", str(channel), "chat") for channel in section.alert_discord_channel_ids]
    values = section.model_dump(exclude={"alert_discord_channel_ids"})
    return FraudRules(**values, alert_targets=tuple(targets))


def ip_hash_salt(config: Config) -> str | None:
    """The configured IP hash salt, or ``None`` to use the one stored in the database."""
    salt = config.tracking.ip_hash_salt
    return salt.get_secret_value() if salt is not None else None


def announce_targets(config: Config, *, console: bool = False) -> tuple[tuple[str, str], ...]:
    """The chats announcements go to, as (platform, chat id) pairs for the core; with
    ``console``, also the console's ``announcements`` chat (where schedules post)."""
    return tuple(
        [("discord", str(channel)) for channel in config.discord.announce_channel_ids]
        + [("telegram", str(chat)) for chat in config.telegram.announce_chat_ids]
        + ([(CONSOLE, CONSOLE_ANNOUNCEMENTS)] if console else [])
    )


def _wants_console(console: bool | None, platforms: list[str]) -> bool:
    """Whether ``affbot run`` opens the console, saying so when stdin is piped."""
    if console is None:
        console = not platforms and stdin_has_commands()
    if console and not sys.stdin.isatty():
        log.info(
            "reading console commands from standard input, one per line; the bot stops "
            "at the end of the input"
        )
    return console


def _start_console(core: Core, stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> Sender:
    """Open the console as a task that stops the bot at its end; its outbox sender."""
    config = core.config
    adapter = ConsoleAdapter(
        core.dispatcher, user=config.console.user, manager=config.console.manager
    )
    sender = ConsoleSender(adapter.render)
    adapter.deliver = console_delivery(core, sender)
    task = asyncio.create_task(adapter.run(), name="console")
    task.add_done_callback(lambda _: stop.set())
    tasks.append(task)
    return sender


def stdin_has_commands(stdin: TextIO | None = None) -> bool:
    """Whether standard input can carry console commands: a terminal, a pipe or a file.

    A service manager's ``/dev/null`` (or a closed stdin) is none of them, so a bot run
    under systemd or Docker does not read it and stop at its immediate end.
    """
    stream = stdin or sys.stdin
    try:
        if stream.isatty():
            return True
        mode = os.fstat(stream.fileno()).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode)


def console_delivery(core: Core, sender: ConsoleSender) -> Callable[[], Awaitable[None]]:
    """Print every console message that is due, in order, and return (the console runs
    it after each command so a command's messages follow its reply)."""
    pacing = limits(core.config.delivery.console)
    settings = DispatchSettings(concurrency=1, poll_interval=0.05)

    async def deliver() -> None:
        dispatcher = OutboxDispatcher(
            core.database, sender, pacing, settings=settings, clock=core.services.clock
        )
        await dispatcher.run(until_idle=True)

    return deliver
