"""Webhook mode: Telegram posts updates to the tracking server, secret header checked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.adapters.telegram import TelegramAdapter, TelegramStartError, register_webhook_routes
from bot.adapters.telegram.webhook import SECRET_HEADER
from bot.config import ConfigError, load_config
from bot.web import build_web_app
from commands.core.dispatcher import Dispatcher
from commands.fraud import FraudRules
from tests.fakes.telegram import FakeTelegram, telegram_config

SECRET = "s3cret-token_for-tests"
HOOK = "https://bot.example.test/telegram/updates"
alice = FakeTelegram.user(2001, "Alice")


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.close()


async def test_updates_posted_to_the_tracking_server_are_answered(
    fake: FakeTelegram, dispatcher: Dispatcher
) -> None:
    adapter = TelegramAdapter(
        telegram_config(fake, webhook_url=HOOK, webhook_secret=SECRET),
        dispatcher,
        fraud=FraudRules(),
    )
    app = build_web_app(dispatcher.services)
    register_webhook_routes(app, adapter)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}/telegram/updates"
    try:
        async with aiohttp.ClientSession() as http:
            update = fake.make_update(alice, "/help")
            async with http.post(url, json=update, headers={SECRET_HEADER: SECRET}) as early:
                assert early.status == 503, "not started yet: Telegram retries later"
            await adapter.start()
            assert fake.webhook is not None
            assert fake.webhook["url"] == HOOK
            assert fake.webhook["secret_token"] == SECRET
            assert not fake.of("getUpdates"), "no polling in webhook mode"

            async with http.post(url, json=update, headers={SECRET_HEADER: "wrong"}) as refused:
                assert refused.status == 403
            async with http.post(url, json=update) as missing:
                assert missing.status == 403
            async with http.post(url, data="nope", headers={SECRET_HEADER: SECRET}) as bad:
                assert bad.status == 400
            assert not fake.sent()

            async with http.post(url, json=update, headers={SECRET_HEADER: SECRET}) as ok:
                assert ok.status == 200
            await adapter.wait_handled(update["update_id"])
            [answer] = fake.sent()
            assert answer.chat_id == 2001
            assert "What you can do" in answer.text
            async with http.get(f"http://127.0.0.1:{port}/healthz") as health:
                assert health.status == 200, "the tracking server still serves its routes"
    finally:
        await adapter.stop()
        await runner.cleanup()


def test_a_webhook_needs_a_secret(tmp_path: Path) -> None:
    none = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match="webhook_secret"):
        load_config(none, environ={"AFFBOT_TELEGRAM__WEBHOOK_URL": HOOK})
    with pytest.raises(ConfigError, match=r"telegram\.webhook_url"):
        load_config(none, environ={"AFFBOT_TELEGRAM__WEBHOOK_URL": "http://plain.example/x"})
    with pytest.raises(ConfigError, match=r"telegram\.webhook_secret"):
        load_config(
            none,
            environ={
                "AFFBOT_TELEGRAM__WEBHOOK_URL": HOOK,
                "AFFBOT_TELEGRAM__WEBHOOK_SECRET": "short",
            },
        )
    config = load_config(
        none,
        environ={"AFFBOT_TELEGRAM__WEBHOOK_URL": HOOK, "AFFBOT_TELEGRAM__WEBHOOK_SECRET": SECRET},
    )
    assert config.telegram.webhook_url == HOOK
    assert SECRET not in repr(config)


async def test_a_refused_token_stops_start_up_with_one_line(
    fake: FakeTelegram, dispatcher: Dispatcher
) -> None:
    config = telegram_config(fake, token="999:wrong")
    adapter = TelegramAdapter(config, dispatcher, fraud=FraudRules())
    with pytest.raises(TelegramStartError, match="token was refused") as caught:
        await adapter.start()
    assert "999:wrong" not in str(caught.value)
