"""``affbot deliver``: a process that only delivers the outbox to Telegram and Discord.

Why a process of its own: a broadcast keeps the event loop busy (claims, marks, HTTP
sends), and when that loop also serves the tracking server, redirect latency suffers
(issue 7, docs/PERFORMANCE.md "Loop isolation"). ``affbot run`` therefore starts this as
a supervised child and keeps only the console's dispatcher in its own loop.

The senders are built without receiving anything: no Telegram polling or webhook, no
Discord gateway connection. The chat adapters in ``affbot run`` own those; this process
sends, which is REST on both platforms. Console messages are never delivered here: the
console sender belongs to the process that owns the terminal.

With ``--supervised`` the parent talks to it over stdin: the first line is the parent's
validated configuration (JSON, so the child runs with exactly the parent's settings even
when the file changed since), then ``wake`` lines (messages were queued: look now), and
end of file when the parent is gone (stop, as on SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import Callable
from typing import Any

from pydantic import SecretStr
from pydantic_core import to_jsonable_python

from bot.adapters.delivery import Sender
from bot.config import Config
from bot.database_check import open_database
from bot.delivery.runtime import DeliveryService
from bot.priority import run_as_background
from storage.migrate import upgrade

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_START_FAILED = 1
EXIT_NOTHING_TO_DO = 2


def delivered_platforms(config: Config) -> list[str]:
    """The platforms this process delivers for: those with a token (never the console)."""
    platforms = []
    if config.telegram.token is not None and config.telegram.token.get_secret_value():
        platforms.append("telegram")
    if config.discord.token is not None and config.discord.token.get_secret_value():
        platforms.append("discord")
    return platforms


def config_line(config: Config) -> bytes:
    """``config`` as one JSON line, secrets included (it only travels through a pipe)."""

    def reveal(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, dict):
            return {key: reveal(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [reveal(item) for item in value]
        return value

    data = to_jsonable_python(reveal(config.model_dump()))
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


def config_from_line(line: bytes) -> Config:
    return Config.model_validate(json.loads(line))


def read_line_unbuffered(fd: int = 0) -> bytes:
    """One line from ``fd`` without reading past it (the rest is read by the event loop)."""
    data = bytearray()
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            break
        data += chunk
    return bytes(data)


async def run_delivery(config: Config, *, supervised: bool = False) -> int:
    """Deliver until SIGINT/SIGTERM (or, supervised, until stdin closes); an exit status."""
    if not config.delivery.enabled:
        log.error("delivery is switched off ([delivery] enabled = false); nothing to do")
        return EXIT_NOTHING_TO_DO
    platforms = delivered_platforms(config)
    if not platforms:
        log.error("no platform to deliver to: set TELEGRAM_TOKEN and/or DISCORD_TOKEN")
        return EXIT_NOTHING_TO_DO
    run_as_background()  # a paced broadcast can wait a millisecond; a redirect should not
    database = await open_database(config.database.url.get_secret_value())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await upgrade(database)
        async with contextlib.AsyncExitStack() as stack:
            senders: list[Sender] = []
            try:
                for platform in platforms:
                    senders.append(await stack.enter_async_context(_sender(config, platform)))
            except OSError as error:  # TelegramStartError, DiscordStartError
                log.error("%s", error)  # noqa: TRY400 - one line, not a traceback
                return EXIT_START_FAILED
            service = DeliveryService(database, config.delivery, senders)
            service.start()
            listener = (
                asyncio.create_task(_listen(service.wake, stop.set), name="supervisor-pipe")
                if supervised
                else None
            )
            try:
                await stop.wait()
            finally:
                log.info("delivery process stopping")
                if listener is not None:
                    listener.cancel()
                    await asyncio.gather(listener, return_exceptions=True)
                await service.stop()  # in-flight sends finish before the senders close
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await database.close()
    return EXIT_OK


def _sender(config: Config, platform: str) -> contextlib.AbstractAsyncContextManager[Sender]:
    if platform == "telegram":
        from bot.adapters.telegram.adapter import delivery_sender as telegram_sender

        return telegram_sender(config.telegram)
    from bot.adapters.discord.client import delivery_sender as discord_sender

    return discord_sender(config.discord)


async def _listen(wake: Callable[[], None], gone: Callable[[], None]) -> None:
    """Read the parent's stdin: ``wake`` wakes the dispatchers; end of file stops us."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    pipe = os.fdopen(0, "rb", buffering=0, closefd=False)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    try:
        while line := await reader.readline():
            if line.strip() == b"wake":
                wake()
        log.info("the parent process is gone (stdin closed)")
        gone()
    finally:
        transport.close()
