"""``affbot run`` with a Telegram token starts the adapter next to the tracking server."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from bot.app import run_bot
from bot.config import Config
from tests.fakes.telegram import FakeTelegram


async def test_run_with_a_token_starts_the_telegram_adapter(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeTelegram()
    await fake.start()
    config = Config.model_validate(
        {
            "database": {"url": f"sqlite:///{tmp_path / 'affbot.db'}"},
            "web": {"port": 0},
            "telegram": {
                "token": fake.token,
                "api_base_url": fake.api_root,
                "poll_timeout": 1,
                "manager_user_ids": [1001],
            },
        }
    )
    caplog.set_level("INFO")
    task = asyncio.create_task(run_bot(config, console=False))
    try:
        await fake.wait_for(lambda: bool(fake.of("getUpdates")))
        assert fake.of("setMyCommands")
        fake.say(FakeTelegram.user(1001, "Maria"), "/program add shop https://s.example 5%")
        await fake.wait_for(lambda: bool(fake.sent()))
        assert "Program shop created" in fake.sent()[0].text
        assert "not built yet" not in caplog.text
        assert "@affbot_test_bot is polling" in caplog.text
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await fake.close()
    assert fake.confirmed_offset >= 1, "shutdown confirms the last update it handled"
