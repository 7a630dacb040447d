"""A broken ``getChatAdministrators`` never silences the bot: real python-telegram-bot
against the fake Bot API answering it with garbage, an error or not at all."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import Bot

from bot.adapters.telegram.managers import (
    LOG_EVERY_SECONDS,
    LOOKUP_TIMEOUT_SECONDS,
    RETRY_AFTER_FAILURE_SECONDS,
    ManagerDirectory,
)
from commands.core.dispatcher import Dispatcher
from tests.fakes.telegram import BotUnderTest, Call, FakeTelegram, running_bot

MANAGER_ID = 1001
ADMIN_ID = 1002
ALICE_ID = 2001
GROUP_ID = -100500
manager = FakeTelegram.user(MANAGER_ID, "Maria")
admin = FakeTelegram.user(ADMIN_ID, "Adam")
alice = FakeTelegram.user(ALICE_ID, "Alice")
group = FakeTelegram.group(GROUP_ID)
METHOD = "getChatAdministrators"

WRONG_SHAPE = b'{"ok": true, "result": [{"bogus": 1}]}'
# What a broken API, a proxy in between or a hung connection answers.
BROKEN: dict[str, dict[str, Any]] = {
    "html": {"body": b"<html><body>502 Bad Gateway</body></html>"},
    "wrong shape": {"body": WRONG_SHAPE},
    "not a list": {"body": b'{"ok": true, "result": "garbage"}'},
    "members without users": {"body": b'{"ok": true, "result": [{"status": "administrator"}]}'},
    "500": {"body": b'{"ok": false, "error_code": 500, "description": "oops"}', "status": 500},
    "timeout": {"body": b'{"ok": true, "result": []}', "delay": LOOKUP_TIMEOUT_SECONDS + 2},
}


@pytest.fixture
async def telegram(dispatcher: Dispatcher) -> AsyncIterator[BotUnderTest]:
    async with running_bot(
        dispatcher, manager_user_ids=[MANAGER_ID], announce_chat_ids=[GROUP_ID]
    ) as bot:
        bot.fake.admins[GROUP_ID] = [admin]
        yield bot


def only(sent: list[Call]) -> str:
    assert len(sent) == 1, [call.text for call in sent]
    return sent[0].text


@pytest.mark.parametrize("answer", BROKEN.values(), ids=BROKEN.keys())
async def test_every_update_is_answered_when_the_admin_lookup_breaks(
    telegram: BotUnderTest, answer: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.adapters.telegram.managers")
    telegram.fake.answer_raw(METHOD, times=None, **answer)
    first = only(await telegram.say(alice, "/programs"))
    assert "no open programs" in first.lower()
    refusal = only(await telegram.say(admin, "/program add shop https://s.example 5%", chat=group))
    assert "managers only" in refusal  # nobody is promoted by a broken list
    assert "something went wrong" not in first + refusal
    assert "Program shop created" in only(
        await telegram.say(manager, "/program add shop https://s.example 5%")
    )
    # One failed lookup, not one per update, and one log line about it.
    assert len(telegram.fake.of(METHOD)) == 1
    failures = [r for r in caplog.records if "cannot read the administrators" in r.message]
    assert len(failures) == 1, [r.message for r in caplog.records]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_failures_keep_the_last_list_retry_later_and_log_throttled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.adapters.telegram.managers")
    fake = FakeTelegram()
    await fake.start()
    fake.admins[GROUP_ID] = [admin]
    bot = Bot(fake.token, base_url=f"{fake.api_root}/bot")
    clock = Clock()
    directory = ManagerDirectory(
        bot, manager_user_ids=[], admin_chat_ids=[GROUP_ID], cache_seconds=0, clock=clock
    )
    try:
        async with bot:
            assert await directory.is_manager(ADMIN_ID)
            fake.answer_raw(METHOD, WRONG_SHAPE, times=None)
            clock.now += 1
            assert await directory.is_manager(ADMIN_ID), "the last list stays in force"
            assert not await directory.is_manager(ALICE_ID)
            lookups = len(fake.of(METHOD))
            assert lookups == 2
            for _ in range(30):  # half an hour of retries, every 30 s
                clock.now += RETRY_AFTER_FAILURE_SECONDS
                assert await directory.is_manager(ADMIN_ID)
            assert len(fake.of(METHOD)) == lookups + 30
            warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1 + int(30 * RETRY_AFTER_FAILURE_SECONDS // LOG_EVERY_SECONDS)
            assert "TypeError" in warnings[0]
            assert "still cannot read the administrators" in warnings[-1]
            fake.answer_normally()
            fake.admins[GROUP_ID] = [alice]
            clock.now += RETRY_AFTER_FAILURE_SECONDS
            assert await directory.is_manager(ALICE_ID)
            assert not await directory.is_manager(ADMIN_ID)
            assert "can be read again" in caplog.records[-1].message
    finally:
        await fake.close()
