"""The composition root: the one place that builds storage, services and adapters.

``affbot run`` and ``affbot console`` both come through here, so every process wires the
same core the same way, and nothing else constructs concrete adapters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

from aiohttp import web

from bot.adapters.console import ConsoleAdapter
from bot.config import Config
from bot.web import build_web_app
from commands import catalog
from commands.dispatcher import Dispatcher
from commands.invocation import Services, Settings
from storage import Database
from storage.migrate import upgrade

if TYPE_CHECKING:
    from bot.adapters.telegram import TelegramAdapter

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Core:
    """What every entry point needs: the database, services and the command dispatcher."""

    config: Config
    database: Database
    services: Services
    dispatcher: Dispatcher


@contextlib.asynccontextmanager
async def open_core(
    config: Config, *, clock: Callable[[], datetime] = utc_now
) -> AsyncIterator[Core]:
    """Connect, migrate to the newest schema, and close the database on the way out."""
    database = Database.connect(config.database.url.get_secret_value())
    try:
        await upgrade(database)
        services = Services(
            database=database,
            settings=Settings(
                public_base_url=config.web.public_base_url,
                timezone=config.zone,
                announce_targets=announce_targets(config),
            ),
            clock=clock,
            registry=catalog.load(),
        )
        yield Core(config, database, services, Dispatcher(services.registry, services))
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
    """``affbot console``: the console adapter alone, no servers."""
    async with open_core(config) as core:
        await ConsoleAdapter(
            core.dispatcher, user=user, manager=manager, stdin=stdin, stdout=stdout
        ).run()


async def run_bot(config: Config, *, console: bool | None = None) -> None:
    """``affbot run``: every configured component until SIGINT/SIGTERM (or console EOF).

    Args:
        console: open the console adapter; ``None`` decides by whether stdin is a
            terminal and no platform token is configured.
    """
    async with open_core(config) as core:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        # The app's cleanup flushes the click buffer, so runner.cleanup() below loses no click.
        web_app = build_web_app(core.services, config.tracking)
        platforms = _configured_platforms(config)
        telegram = _telegram_adapter(config, core, web_app) if "telegram" in platforms else None
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, config.web.host, config.web.port)
        await site.start()
        for host, port, *_ in runner.addresses:
            log.info("tracking server listening on http://%s:%s", host, port)
        log.info("referral links use %s", config.web.public_base_url)
        _warn_unbuilt(platforms, built={"telegram", "discord"})
        if telegram is not None:
            try:
                await telegram.start()
            except BaseException:
                await runner.cleanup()
                raise
        tasks: list[asyncio.Task[None]] = []
        if "discord" in platforms:
            tasks.append(_start_discord(core, stop))
        if console is None:
            console = not platforms and sys.stdin.isatty()
        if console:
            adapter = ConsoleAdapter(
                core.dispatcher, user=config.console.user, manager=config.console.manager
            )
            task = asyncio.create_task(adapter.run(), name="console")
            task.add_done_callback(lambda _: stop.set())
            tasks.append(task)
        elif not platforms:
            log.warning(
                "no chat adapter configured (set DISCORD_TOKEN or TELEGRAM_TOKEN, or run in "
                "a terminal for the console); serving the tracking server only"
            )
        try:
            await stop.wait()
        finally:
            log.info("stopping")
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if telegram is not None:
                await telegram.stop()
            await runner.cleanup()


def _telegram_adapter(config: Config, core: Core, web_app: web.Application) -> TelegramAdapter:
    """The Telegram adapter; in webhook mode its route joins the tracking server's app."""
    from bot.adapters.telegram import TelegramAdapter, register_webhook_routes

    adapter = TelegramAdapter(config.telegram, core.dispatcher)
    if config.telegram.webhook_url:
        register_webhook_routes(web_app, adapter)
    return adapter


def _warn_unbuilt(platforms: list[str], built: set[str]) -> None:
    for platform in platforms:
        if platform not in built:
            log.warning("%s token found, but the %s adapter is not built yet", platform, platform)


def announce_targets(config: Config) -> tuple[tuple[str, str], ...]:
    """The chats announcements go to, as (platform, chat id) pairs for the core."""
    return tuple(
        [("discord", str(channel)) for channel in config.discord.announce_channel_ids]
        + [("telegram", str(chat)) for chat in config.telegram.announce_chat_ids]
    )


def _start_discord(core: Core, stop: asyncio.Event) -> asyncio.Task[None]:
    """Run the Discord adapter; if it ends (bad token, lost for good) the process stops."""
    from bot.adapters.discord.client import DiscordAdapter

    adapter = DiscordAdapter(core.config.discord, core.dispatcher, clock=core.services.clock)
    task = asyncio.create_task(adapter.run(), name="discord")

    def ended(finished: asyncio.Task[None]) -> None:
        if not finished.cancelled() and finished.exception() is not None:
            log.error("the Discord adapter stopped", exc_info=finished.exception())
        stop.set()

    task.add_done_callback(ended)
    return task


def _configured_platforms(config: Config) -> list[str]:
    platforms = []
    if config.discord.token is not None and config.discord.token.get_secret_value():
        platforms.append("discord")
    if config.telegram.token is not None and config.telegram.token.get_secret_value():
        platforms.append("telegram")
    return platforms
