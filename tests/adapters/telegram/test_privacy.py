"""Private replies asked for in a group go to the person's private chat, never the group."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from commands.core.dispatcher import Dispatcher
from tests.fakes.telegram import BotUnderTest, Call, FakeTelegram, running_bot

MANAGER_ID = 1001
ALICE_ID = 2001
GROUP_ID = -100777

manager = FakeTelegram.user(MANAGER_ID, "Maria")
alice = FakeTelegram.user(ALICE_ID, "Alice")
group = FakeTelegram.group(GROUP_ID)


@pytest.fixture
async def telegram(dispatcher: Dispatcher) -> AsyncIterator[BotUnderTest]:
    async with running_bot(dispatcher, manager_user_ids=[MANAGER_ID]) as bot:
        await bot.say(manager, "/program add shop https://shop.example/spring 12%")
        await bot.say(alice, "/join shop")
        yield bot


def to(sent: list[Call], chat_id: int) -> list[Call]:
    return [call for call in sent if call.chat_id == chat_id]


async def test_private_reply_in_a_group_goes_to_the_private_chat(telegram: BotUnderTest) -> None:
    sent = await telegram.say(alice, "/stats", chat=group)
    private, public = to(sent, ALICE_ID), to(sent, GROUP_ID)
    assert len(private) == 1
    assert "Your stats" in private[0].text
    assert len(public) == 1
    assert public[0].text == "I sent you the answer in a private message."
    assert public[0].params["reply_parameters"]["message_id"]
    assert [call.chat_id for call in sent] == [ALICE_ID, GROUP_ID], "the note comes after"


async def test_a_link_asked_for_in_a_group_stays_private(telegram: BotUnderTest) -> None:
    sent = await telegram.say(alice, "/link shop", chat=group)
    private, public = to(sent, ALICE_ID), to(sent, GROUP_ID)
    url = private[0].buttons[0]["url"]
    assert "/r/" in url
    assert all(url not in call.text for call in public)
    assert all(not call.buttons for call in public)


async def test_someone_who_never_started_the_bot_is_told_how(telegram: BotUnderTest) -> None:
    telegram.fake.block(ALICE_ID)
    sent = await telegram.say(alice, "/stats", chat=group)
    public = to(sent, GROUP_ID)
    assert len(public) == 1
    note = public[0]
    assert "started a chat with me" in note.text
    assert note.buttons == [
        {"text": "Start a chat with me", "url": "https://t.me/affbot_test_bot?start=welcome"}
    ]
    assert "clicks" not in note.text, "the private numbers never fall back to the group"
    refused = [call for call in sent if call.chat_id == ALICE_ID]
    assert len(refused) == 1, "one refused attempt, no retries against a closed chat"


async def test_public_replies_stay_in_the_group(telegram: BotUnderTest) -> None:
    sent = await telegram.say(alice, "/programs", chat=group)
    assert [call.chat_id for call in sent] == [GROUP_ID]
    assert "shop" in sent[0].text


async def test_private_chat_answers_directly_without_a_note(telegram: BotUnderTest) -> None:
    sent = await telegram.say(alice, "/stats")
    assert [call.chat_id for call in sent] == [ALICE_ID]
    assert "reply_parameters" not in sent[0].params
