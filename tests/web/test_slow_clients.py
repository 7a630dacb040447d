"""Slow clients over real sockets (issue 17 item 4): they are closed, and others answered.

The report: 300 connections that never finished their request head were all still open
after 90 s, and once they held the process's file descriptors nobody else was answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from bot.config import ConfigError, WebConfig, load_config
from bot.web import build_web_app
from bot.web.listener import TrackingSite, tracking_runner
from commands.core.invocation import Services
from tests.processes import ROOT
from tests.tracking_support import FAST, rules_for

SLOW_HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow\r\n"


@asynccontextmanager
async def serving(services: Services, config: WebConfig) -> AsyncIterator[TrackingSite]:
    """The tracking app behind the same runner and site ``affbot run`` uses."""
    runner = tracking_runner(build_web_app(services, FAST, rules_for(services)), config)
    await runner.setup()
    site = TrackingSite(runner, config)
    try:
        await site.start()
        yield site
    finally:
        await runner.cleanup()


async def slow_client(
    port: int, local: str = "127.0.0.1"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(local, 0))
    writer.write(SLOW_HEAD)
    return reader, writer


async def trickle(writers: list[asyncio.StreamWriter]) -> None:
    """A header line now and then on every slow connection (the head never ends)."""
    for number in range(1000):
        for writer in writers:
            if not writer.is_closing():
                writer.write(f"X-Slow-{number}: y\r\n".encode())
        await asyncio.sleep(0.25)


async def closed_after(reader: asyncio.StreamReader, started: float) -> float:
    """Seconds from ``started`` until the server closed the connection (a reset, as it
    drops a head it will never finish reading, counts too)."""
    with contextlib.suppress(ConnectionResetError):
        while await reader.read(4096):
            pass
    return time.monotonic() - started


async def healthz_seconds(port: int) -> float:
    started = time.monotonic()
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/healthz") as response,
    ):
        assert response.status == 200
    return time.monotonic() - started


async def test_slow_heads_are_closed_within_the_timeout_and_others_answered(
    services: Services,
) -> None:
    config = WebConfig(port=0, idle_timeout_seconds=1.0, max_connections_per_address=0)
    async with serving(services, config) as site:
        started = time.monotonic()
        clients = [await slow_client(site.port) for _ in range(300)]
        writers = [writer for _, writer in clients]
        feeding = asyncio.create_task(trickle(writers))
        try:
            # While all 300 hang on their heads, a normal request is answered at once.
            assert await healthz_seconds(site.port) < 0.5
            closed = await asyncio.wait_for(
                asyncio.gather(*(closed_after(reader, started) for reader, _ in clients)),
                timeout=10,
            )
        finally:
            feeding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeding
            for writer in writers:
                writer.close()
        # Trickled header bytes do not extend the timeout.
        assert max(closed) < config.idle_timeout_seconds + 2.0, max(closed)
        assert await healthz_seconds(site.port) < 0.5


async def test_a_busy_keep_alive_connection_is_not_cut_off(services: Services) -> None:
    config = WebConfig(port=0, idle_timeout_seconds=1.0)
    async with serving(services, config) as site:
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector) as session:
            for _ in range(8):  # 2.4 s on one connection, well past the 1 s timeout
                async with session.get(f"http://127.0.0.1:{site.port}/healthz") as response:
                    assert response.status == 200
                await asyncio.sleep(0.3)
        assert site.limit.refused == 0


async def test_one_address_cannot_hold_more_than_its_share(services: Services) -> None:
    config = WebConfig(port=0, idle_timeout_seconds=1.0, max_connections_per_address=20)
    async with serving(services, config) as site:
        hogs = [await slow_client(site.port, "127.0.0.2") for _ in range(20)]
        try:
            reader, writer = await slow_client(site.port, "127.0.0.2")
            answer = await asyncio.wait_for(reader.read(), timeout=2)
            writer.close()
            assert answer.startswith(b"HTTP/1.1 429 Too Many Requests\r\n")
            assert b"Too many open connections from your address" in answer
            assert site.limit.refused == 1
            # Everyone else is served meanwhile.
            assert await healthz_seconds(site.port) < 0.5
            started = time.monotonic()
            await asyncio.wait_for(
                asyncio.gather(*(closed_after(hog, started) for hog, _ in hogs)), timeout=5
            )
        finally:
            for _, hog in hogs:
                hog.close()
        # Their slots are free again once the timeout closed them.
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", site.port, local_addr=("127.0.0.2", 0)
        )
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert (await asyncio.wait_for(reader.read(), timeout=2)).startswith(b"HTTP/1.1 200")
        writer.close()
    assert not site.limit.open


def test_bad_connection_settings_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[web]\nidle_timeout_seconds = 0\nmax_connections_per_address = -1\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path, {})
    message = str(raised.value)
    assert "web.idle_timeout_seconds" in message
    assert "web.max_connections_per_address" in message
    example = ROOT / "config.example.toml"
    text = example.read_text()
    for key in WebConfig.model_fields:
        assert f"\n{key} = " in text, key
    assert load_config(example, {}).web == WebConfig()
