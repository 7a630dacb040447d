"""End to end: people typing commands to the real python-telegram-bot against a fake API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from commands.dispatcher import Dispatcher
from tests.fakes.telegram import BotUnderTest, FakeTelegram, running_bot

MANAGER_ID = 1001
ALICE_ID = 2001
BOB_ID = 2002
GROUP_ID = -100500

manager = FakeTelegram.user(MANAGER_ID, "Maria", last_name="Manager")
alice = FakeTelegram.user(ALICE_ID, "Alice")
bob = FakeTelegram.user(BOB_ID, "Bob")
group = FakeTelegram.group(GROUP_ID)


@pytest.fixture
async def telegram(
    dispatcher: Dispatcher, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[BotUnderTest]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    async with running_bot(dispatcher, manager_user_ids=[MANAGER_ID]) as bot:
        yield bot


async def test_help(telegram: BotUnderTest) -> None:
    sent = await telegram.say(alice, "/help")
    assert len(sent) == 1
    print(sent[0].params)
