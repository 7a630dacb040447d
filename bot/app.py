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
from datetime import UTC, datetime, timedelta
from typing import TextIO

from aiohttp import web

from bot.adapters.console import ConsoleAdapter
from bot.adapters.console_delivery import ConsoleSender
from bot.adapters.delivery import Sender
from bot.config import Config
from bot.delivery.runtime import DeliveryService
from bot.scheduler import ScheduleService, audiences_from_config, default_schedules
from bot.web import build_web_app
from commands import catalog
from commands.dispatcher import Dispatcher
from commands.invocation import Services, Settings
from storage import Database
from storage.migrate import upgrade

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
            settings=Settings(public_base_url=config.web.public_base_url, timezone=config.zone),
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
        runner = web.AppRunner(build_web_app(core.services), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, config.web.host, config.web.port)
        await site.start()
        log.info(
            "tracking server listening on http://%s:%s (links use %s)",
            config.web.host,
            config.web.port,
            config.web.public_base_url,
        )
        platforms = _configured_platforms(config)
        for platform in platforms:
            log.warning(
                "%s token found, but the %s adapter is not built yet in this version",
                platform,
                platform,
            )
        tasks: list[asyncio.Task[None]] = []
        senders: list[Sender] = []  # one outbox sender per running chat adapter
        if console is None:
            console = not platforms and sys.stdin.isatty()
        if console:
            adapter = ConsoleAdapter(
                core.dispatcher, user=config.console.user, manager=config.console.manager
            )
            senders.append(ConsoleSender(adapter.render))
            task = asyncio.create_task(adapter.run(), name="console")
            task.add_done_callback(lambda _: stop.set())
            tasks.append(task)
        elif not platforms:
            log.warning(
                "no chat adapter configured (set DISCORD_TOKEN or TELEGRAM_TOKEN, or run in "
                "a terminal for the console); serving the tracking server only"
            )
        background = await start_background(
            core, senders, console_user=config.console.user if console else None
        )
        try:
            await stop.wait()
        finally:
            log.info("stopping")
            await background.stop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await runner.cleanup()


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
    core: Core, senders: list[Sender], *, console_user: str | None = None
) -> Background:
    """Start delivering the outbox through ``senders`` and firing schedules."""
    config = core.config
    delivery = DeliveryService(
        core.database,
        config.delivery,
        senders if config.delivery.enabled else [],
        clock=core.services.clock,
    )
    delivery.start()
    schedules = None
    if config.schedules.enabled:
        schedules = ScheduleService(
            core.database,
            # Every platform with an adapter here, delivered by this process or another one
            # sharing the database ([delivery] enabled = false in all but one, say).
            audiences_from_config(
                config, frozenset(s.platform for s in senders), console_user=console_user
            ),
            grace=timedelta(hours=config.schedules.catch_up_hours),
            reload_seconds=config.schedules.reload_seconds,
            clock=core.services.clock,
            on_queued=delivery.wake,
        )
        await schedules.start(default_schedules(config))
    return Background(delivery, schedules)


def _configured_platforms(config: Config) -> list[str]:
    platforms = []
    if config.discord.token is not None and config.discord.token.get_secret_value():
        platforms.append("discord")
    if config.telegram.token is not None and config.telegram.token.get_secret_value():
        platforms.append("telegram")
    return platforms
