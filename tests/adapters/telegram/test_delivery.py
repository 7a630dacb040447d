"""Delivery to Telegram: the outbox's Sender and interactive replies under flood control."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from bot.adapters.delivery import RetryAfter, Sender, TransientFailure, Unreachable
from commands.core.dispatcher import Dispatcher
from commands.core.reply import Button, Image, Reply, Visibility
from tests.fakes.telegram import BotUnderTest, FakeTelegram, running_bot

ALICE_ID = 2001
GROUP_ID = -100900
alice = FakeTelegram.user(ALICE_ID, "Alice")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
async def telegram(dispatcher: Dispatcher) -> AsyncIterator[BotUnderTest]:
    async with running_bot(dispatcher) as bot:
        yield bot


def sender(telegram: BotUnderTest) -> Sender:
    result: Sender = telegram.adapter.sender
    return result


async def test_sends_a_reply_to_a_user_and_to_a_chat(telegram: BotUnderTest) -> None:
    reply = Reply(
        title="Weekly feedback",
        text="You had <3> sales & 2 clicks",
        buttons=(Button("Your stats", "https://go.example.test/stats"),),
        visibility=Visibility.PRIVATE,
    )
    await sender(telegram).send("user", str(ALICE_ID), reply, dedupe_key="feedback:1")
    await sender(telegram).send("chat", str(GROUP_ID), Reply(text="Leaderboard"), dedupe_key="lb")
    [first, second] = telegram.fake.sent()
    assert first.chat_id == ALICE_ID
    assert first.text == "<b>Weekly feedback</b>\n\nYou had &lt;3&gt; sales &amp; 2 clicks"
    assert first.buttons == [{"text": "Your stats", "url": "https://go.example.test/stats"}]
    assert second.chat_id == GROUP_ID


async def test_images_go_out_with_send_photo(telegram: BotUnderTest) -> None:
    reply = Reply(
        title="Top affiliates",
        text="Congratulations to everyone!",
        image=Image(PNG, "leaderboard.png", "Bar chart of <this> week's top 10"),
    )
    await sender(telegram).send("chat", str(GROUP_ID), reply, dedupe_key="lb:img")
    photo, message = telegram.fake.sent()
    assert photo.method == "sendPhoto"
    assert photo.files["photo"] == PNG
    assert (
        photo.params["caption"] == "<b>Top affiliates</b>\nBar chart of &lt;this&gt; week's top 10"
    )
    assert message.method == "sendMessage"
    assert message.text == "Congratulations to everyone!"


async def test_blocked_users_are_unreachable(telegram: BotUnderTest) -> None:
    telegram.fake.fail("sendMessage", 403)
    with pytest.raises(Unreachable, match="blocked"):
        await sender(telegram).send("user", str(ALICE_ID), Reply(text="hi"), dedupe_key="k")
    telegram.fake.fail("sendMessage", 400, description="Bad Request: chat not found")
    with pytest.raises(Unreachable, match=r"(?i)chat not found"):
        await sender(telegram).send("chat", "-1001", Reply(text="hi"), dedupe_key="k")
    with pytest.raises(Unreachable):
        await sender(telegram).send("user", "not-a-number", Reply(text="hi"), dedupe_key="k")


async def test_flood_control_is_reported_with_its_delay(telegram: BotUnderTest) -> None:
    telegram.fake.fail("sendMessage", 429, retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await sender(telegram).send("user", str(ALICE_ID), Reply(text="hi"), dedupe_key="k")
    assert caught.value.seconds == 7


@pytest.mark.parametrize("status", [500, 502])
async def test_server_errors_are_transient(telegram: BotUnderTest, status: int) -> None:
    telegram.fake.fail("sendMessage", status)
    with pytest.raises(TransientFailure):
        await sender(telegram).send("user", str(ALICE_ID), Reply(text="hi"), dedupe_key="k")


async def test_a_429_half_way_waits_instead_of_repeating_parts(telegram: BotUnderTest) -> None:
    long = "\n".join("x" * 100 for _ in range(60))  # two messages
    fake = telegram.fake
    await sender(telegram).send("user", str(ALICE_ID), Reply(text="warm-up"), dedupe_key="w")
    # The first part goes through; the second is refused once with retry_after=1.
    fake.fail("sendMessage", 429, retry_after=1, after=1)
    started = time.monotonic()
    await sender(telegram).send("user", str(ALICE_ID), Reply(text=long), dedupe_key="long")
    sent = [call for call in fake.sent(ALICE_ID) if call.text != "warm-up"]
    assert len(sent) == 3, "part 1, part 2 refused, part 2 again"
    assert sent[1].text == sent[2].text != sent[0].text
    assert time.monotonic() - started >= 1


async def test_each_chat_is_paced(dispatcher: Dispatcher) -> None:
    async with running_bot(dispatcher, seconds_between_messages_per_chat=0.2) as telegram:
        for number in range(3):
            await sender(telegram).send(
                "user", str(ALICE_ID), Reply(text=f"{number}"), dedupe_key=""
            )
        await sender(telegram).send("user", "2002", Reply(text="other"), dedupe_key="")
        times = [call.at for call in telegram.fake.sent()]
    assert times[1] - times[0] >= 0.18
    assert times[2] - times[1] >= 0.18
    assert times[3] - times[2] < 0.15, "another chat does not wait for this one"


async def test_interactive_replies_wait_out_flood_control(telegram: BotUnderTest) -> None:
    telegram.fake.fail("sendMessage", 429, retry_after=1)
    started = time.monotonic()
    sent = await telegram.say(alice, "/help")
    assert len(sent) == 2
    assert sent[0].text == sent[1].text
    assert sent[1].at - sent[0].at >= 0.9
    assert time.monotonic() - started < 4


async def test_interactive_replies_survive_server_errors(telegram: BotUnderTest) -> None:
    telegram.fake.fail("sendMessage", 500)
    sent = await telegram.say(alice, "/help")
    assert len(sent) == 1, "logged, not retried forever, and the bot keeps running"
    assert len(await telegram.say(alice, "/help")) == 1
