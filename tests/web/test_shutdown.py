"""``affbot run`` flushes the click buffer when it stops on SIGTERM: no click is lost.

The clicks go through the click writer process (the default), which the server stops
only after every batch is acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from pathlib import Path

import aiohttp
import pytest

from bot.app import run_bot
from bot.config import load_config
from storage import Database
from tests.tracking_support import seed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_sigterm_flushes_buffered_clicks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.web.click_sinks")
    url = f"sqlite:///{tmp_path / 'affbot.db'}"
    port = free_port()
    config = load_config(
        tmp_path / "none.toml",
        {
            "AFFBOT_DATABASE__URL": url,
            "AFFBOT_WEB__PORT": str(port),
            # Neither trigger fires during the test: only the shutdown flush can write.
            "AFFBOT_TRACKING__CLICK_BATCH_SIZE": "100000",
            "AFFBOT_TRACKING__CLICK_FLUSH_SECONDS": "300",
            "AFFBOT_TRACKING__CLICK_WRITER": "process",
        },
    )
    task = asyncio.create_task(run_bot(config, console=False))
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.02)
        database = Database.connect(url)
        try:
            seeded = await seed(database)
            for _ in range(37):
                async with session.get(
                    f"http://127.0.0.1:{port}/r/{seeded.link.code}", allow_redirects=False
                ) as response:
                    assert response.status == 302
            async with database.read() as store:
                assert await store.clicks.count() == 0
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(task, timeout=10)
            async with database.read() as store:
                assert await store.clicks.count() == 37
            started = [
                record.args
                for record in caplog.records
                if record.getMessage().startswith("click writer process")
            ]
            assert len(started) == 1  # one child, started with the server, never restarted
            assert not any(record.levelno >= logging.ERROR for record in caplog.records)
            assert isinstance(started[0], tuple)
            pid = started[0][0]
            assert isinstance(pid, int)
            with pytest.raises(ProcessLookupError):  # it exited, and was waited for
                os.kill(pid, 0)
        finally:
            await database.close()
