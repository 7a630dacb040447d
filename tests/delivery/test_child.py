"""``affbot deliver`` and the delivery child of ``affbot run``, as real processes.

The fakes serve the real Bot API / Discord REST over HTTP; the processes are the real
command line. Outbox rows are queued straight into the SQLite file the processes use, as
a command in another process would queue them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import run_bot
from bot.config import Config
from commands.core.reply import Reply
from storage import Database
from storage.migrate import upgrade
from storage.outbox import OutgoingMessage
from tests.fakes.discord import FakeDiscord
from tests.fakes.telegram import FakeTelegram
from tests.processes import affbot_env, gone


def base_env(tmp_path: Path) -> dict[str, str]:
    return {
        **affbot_env(tmp_path),
        "AFFBOT_DELIVERY__POLL_SECONDS": "0.2",
        "AFFBOT_SCHEDULES__ENABLED": "false",
    }


def telegram_env(tmp_path: Path, fake: FakeTelegram) -> dict[str, str]:
    return {
        **base_env(tmp_path),
        "TELEGRAM_TOKEN": fake.token,
        "AFFBOT_TELEGRAM__API_BASE_URL": fake.api_root,
        "AFFBOT_TELEGRAM__POLL_TIMEOUT": "1",
        "AFFBOT_TELEGRAM__SECONDS_BETWEEN_MESSAGES_PER_CHAT": "0",
    }


async def queue(tmp_path: Path, platform: str, target: str, text: str) -> None:
    """Queue one private message, migrating the database first if nobody has yet."""
    database = Database.connect(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        await upgrade(database)
        async with database.transaction() as store:
            await store.outbox.enqueue(
                [OutgoingMessage(f"test:{text}", platform, "user", target, Reply(text).to_json())],
                now=datetime.now(UTC),
            )
    finally:
        await database.close()


async def sent_count(tmp_path: Path) -> int:
    database = Database.connect(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        async with database.read() as store:
            return (await store.outbox.counts()).sent
    finally:
        await database.close()


async def until(predicate: Callable[[], object], within: float = 15.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - a fake's record or a log line
            await asyncio.sleep(0.05)


class Logged:
    """A process with its stderr collected line by line as it runs."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.lines.append(line.decode())

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def pids(self) -> list[int]:
        found = re.findall(r"delivery process started \(pid (\d+)\)", self.text)
        return [int(pid) for pid in found]

    async def finish(self, within: float = 30.0) -> int:
        async with asyncio.timeout(within):
            code = await self.process.wait()
            await self._reader
        return code


@contextlib.asynccontextmanager
async def affbot(*args: str, env: dict[str, str], cwd: Path) -> AsyncIterator[Logged]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
    )
    logged = Logged(process)
    try:
        yield logged
    finally:
        if process.returncode is None:  # a failed test leaves nothing running
            process.kill()
            await process.wait()
        for pid in logged.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


async def test_deliver_sends_to_telegram_without_polling_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    fake = FakeTelegram()
    await fake.start()
    try:
        await queue(tmp_path, "telegram", "555", "Hello from the outbox")
        async with affbot("deliver", env=telegram_env(tmp_path, fake), cwd=tmp_path) as bot:
            await until(lambda: fake.sent(555))
            assert fake.sent(555)[0].text == "Hello from the outbox"
            bot.process.send_signal(signal.SIGTERM)
            assert await bot.finish() == 0, bot.text
        assert not fake.of("getUpdates"), "a delivery process never takes the updates"
        assert "Traceback" not in bot.text
        assert await sent_count(tmp_path) == 1
    finally:
        await fake.close()


async def test_deliver_sends_discord_dms_over_rest_without_the_gateway(tmp_path: Path) -> None:
    fake = FakeDiscord()
    await fake.start()
    env = {
        **base_env(tmp_path),
        "DISCORD_TOKEN": fake.token,
        "AFFBOT_DISCORD__API_BASE_URL": fake.api_base_url,
        "AFFBOT_DISCORD__GATEWAY_URL": fake.gateway_url,
    }
    try:
        await queue(tmp_path, "discord", "424242424242", "Hello on Discord")
        async with affbot("deliver", env=env, cwd=tmp_path) as bot:
            await until(lambda: fake.sent)
            bot.process.send_signal(signal.SIGTERM)
            assert await bot.finish() == 0, bot.text
        (message,) = fake.sent
        assert fake.dm_channels[message.channel_id or ""] == "424242424242"
        assert "Hello on Discord" in message.embed["description"]
        assert message.body["nonce"]
        assert message.body["enforce_nonce"]
        assert not fake.gateway.identifies, "a delivery process never opens the gateway"
        assert await sent_count(tmp_path) == 1
    finally:
        await fake.close()


async def test_deliver_with_a_refused_token_exits_with_one_line(tmp_path: Path) -> None:
    fake = FakeTelegram()
    await fake.start()
    try:
        env = {**telegram_env(tmp_path, fake), "TELEGRAM_TOKEN": "123:not-the-token"}
        async with affbot("deliver", env=env, cwd=tmp_path) as bot:
            assert await bot.finish() == 1
        assert "the bot token was refused" in bot.text
        assert "Traceback" not in bot.text
        assert "not-the-token" not in bot.text
    finally:
        await fake.close()


async def test_run_delivers_through_a_supervised_child_that_is_restarted(
    tmp_path: Path,
) -> None:
    fake = FakeTelegram()
    await fake.start()
    try:
        async with affbot("run", env=telegram_env(tmp_path, fake), cwd=tmp_path) as bot:
            await until(lambda: bot.pids() and "is polling" in bot.text)
            (first,) = bot.pids()
            await queue(tmp_path, "telegram", "601", "first message")
            await until(lambda: fake.sent(601))

            os.kill(first, signal.SIGKILL)
            await until(lambda: len(bot.pids()) == 2)
            assert "the delivery process exited unexpectedly" in bot.text
            await queue(tmp_path, "telegram", "602", "after the restart")
            await until(lambda: fake.sent(602))
            second = bot.pids()[1]

            bot.process.send_signal(signal.SIGTERM)
            assert await bot.finish() == 0, bot.text
        assert gone(first)
        assert gone(second), "the child stops with its parent"
        assert "delivery process stopping" in bot.text
        assert len(fake.of("getUpdates")) >= 1  # the parent polls, the child only sends
        assert [len(fake.sent(chat)) for chat in (601, 602)] == [1, 1]
        assert "Traceback" not in bot.text
    finally:
        await fake.close()


async def test_separate_process_off_delivers_in_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    fake = FakeTelegram()
    await fake.start()
    config = Config.model_validate(
        {
            "database": {"url": f"sqlite:///{tmp_path / 'bot.db'}"},
            "web": {"port": 0},
            "delivery": {"separate_process": False, "poll_seconds": 0.2},
            "schedules": {"enabled": False},
            "telegram": {
                "token": fake.token,
                "api_base_url": fake.api_root,
                "poll_timeout": 1,
                "seconds_between_messages_per_chat": 0,
            },
        }
    )
    task = asyncio.create_task(run_bot(config, console=False))
    try:
        await fake.wait_for(lambda: bool(fake.of("getUpdates")), within=15)
        await queue(tmp_path, "telegram", "701", "in process")
        await fake.wait_for(lambda: bool(fake.sent(701)), within=15)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await fake.close()
    assert "delivery process started" not in caplog.text
    assert "delivering the outbox for telegram" in caplog.text
