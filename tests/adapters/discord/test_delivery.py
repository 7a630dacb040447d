"""Outbox delivery on Discord: DMs and channel posts through the real discord.py, and how
each failure the fake Discord can produce maps onto the delivery errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.adapters.delivery import RetryAfter, TransientFailure, Unreachable
from bot.adapters.discord.delivery import nonce_for
from commands.core.invocation import Services
from commands.core.reply import Button, Field, Image, Reply, Table
from tests.fakes.discord_harness import Bot, running_bot

FEEDBACK = Reply(
    title="Your week",
    text="12 clicks, 1 sale. @everyone look!",
    fields=(Field("Commission", "1.20 USD"),),
    table=Table(("day", "clicks"), (("Mon", "5"), ("Tue", "7"))),
    buttons=(Button("Your stats", "https://go.example.test/s"),),
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
async def bot(services: Services) -> AsyncIterator[Bot]:
    async with running_bot(services, track_invites=False) as running:
        yield running


async def test_a_dm_is_delivered_with_a_nonce_and_no_mentions(bot: Bot) -> None:
    await bot.adapter.sender.send("user", bot.alice.user.id, FEEDBACK, dedupe_key="feedback:1")
    (channel_id,) = bot.fake.dm_channels
    assert bot.fake.dm_channels[channel_id] == bot.alice.user.id
    (sent,) = bot.fake.channel_messages(channel_id)
    assert sent.body["nonce"] == nonce_for("feedback:1")
    assert sent.body["enforce_nonce"] is True
    assert sent.allowed_mentions == {"parse": []}
    assert "@\u200beveryone" in sent.embed["description"]
    assert "```" in sent.embed["description"]
    button = sent.body["components"][0]["components"][0]
    assert button["url"] == "https://go.example.test/s"


async def test_a_resend_after_a_crash_is_dropped_by_the_nonce(bot: Bot) -> None:
    for _ in range(2):
        await bot.adapter.sender.send("user", bot.bob.user.id, FEEDBACK, dedupe_key="weekly:7")
    (channel_id,) = bot.fake.dm_channels
    assert len(bot.fake.channel_messages(channel_id)) == 1


async def test_a_channel_post_with_an_image_attachment(bot: Bot) -> None:
    channel_id = bot.guild.system_channel_id
    assert channel_id is not None
    chart = Reply(title="Leaderboard", image=Image(PNG, "chart.png", "Top affiliates"))
    await bot.adapter.sender.send("chat", channel_id, chart, dedupe_key="board:1")
    (sent,) = bot.fake.channel_messages(channel_id)
    assert sent.files == [("chart.png", PNG)]
    assert sent.embed["image"]["url"] == "attachment://chart.png"


async def test_closed_dms_make_the_user_unreachable(bot: Bot) -> None:
    bot.fake.fail(
        "POST", r"/channels/\d+/messages$", 403, code=50007, message="Cannot send messages"
    )
    with pytest.raises(Unreachable, match="50007"):
        await bot.adapter.sender.send("user", bot.alice.user.id, FEEDBACK, dedupe_key="k")
    attempts = [r for r in bot.fake.requests if r[0] == "POST" and r[1].endswith("/messages")]
    assert len(attempts) == 1  # never retried


async def test_a_short_rate_limit_is_waited_out_by_discord_py(bot: Bot) -> None:
    bot.fake.fail("POST", r"/channels/\d+/messages$", 429, retry_after=0.05)
    await bot.adapter.sender.send("user", bot.alice.user.id, FEEDBACK, dedupe_key="k")
    attempts = [r for r in bot.fake.requests if r[0] == "POST" and r[1].endswith("/messages")]
    assert len(attempts) == 2
    assert len(bot.fake.channel_messages(next(iter(bot.fake.dm_channels)))) == 1


async def test_a_long_rate_limit_is_handed_back_to_the_outbox(bot: Bot) -> None:
    bot.fake.fail("POST", r"/channels/\d+/messages$", 429, retry_after=120)
    with pytest.raises(RetryAfter) as caught:
        await bot.adapter.sender.send("user", bot.alice.user.id, FEEDBACK, dedupe_key="k")
    assert caught.value.seconds == 120


async def test_a_cloudflare_429_without_via_is_a_retry_after(bot: Bot) -> None:
    bot.fake.fail("POST", r"/channels/\d+/messages$", 429, retry_after=9, via=False)
    with pytest.raises(RetryAfter) as caught:
        await bot.adapter.sender.send("user", bot.alice.user.id, FEEDBACK, dedupe_key="k")
    assert caught.value.seconds == 9


async def test_a_server_error_is_transient(bot: Bot) -> None:
    bot.fake.fail("POST", r"/channels/\d+/messages$", 503)
    with pytest.raises(TransientFailure, match="503"):
        await bot.adapter.sender.send("user", bot.alice.user.id, FEEDBACK, dedupe_key="k")


async def test_an_unknown_channel_is_unreachable(bot: Bot) -> None:
    bot.fake.fail("POST", r"/channels/\d+/messages$", 404, code=10003)
    with pytest.raises(Unreachable):
        await bot.adapter.sender.send("chat", "123", FEEDBACK, dedupe_key="k")
    with pytest.raises(Unreachable):
        await bot.adapter.sender.send("chat", "not-an-id", FEEDBACK, dedupe_key="k")


async def test_a_network_failure_is_transient(bot: Bot) -> None:
    await bot.fake.close()
    with pytest.raises(TransientFailure, match="network"):
        await bot.adapter.sender.send("chat", "123", FEEDBACK, dedupe_key="k")
