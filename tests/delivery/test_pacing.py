"""Pacing: the token bucket, per-chat spacing and platform pauses, on a fake clock."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.config import load_config
from bot.delivery.pacing import Limits, Pacer
from bot.delivery.runtime import limits, pacing_for


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_steady_rate_books_one_slot_per_interval() -> None:
    clock = FakeMonotonic()
    pacer = Pacer(Limits(rate=30), monotonic=clock)
    delays = [pacer.reserve(f"chat{n}") for n in range(31)]
    assert delays[0] == 0
    assert delays[1] == pytest.approx(1 / 30)
    assert delays[30] == pytest.approx(1.0)  # 31 messages need a full second at 30/s


def test_burst_allows_a_quick_start_then_the_rate() -> None:
    clock = FakeMonotonic()
    pacer = Pacer(Limits(rate=10, burst=5), monotonic=clock)
    delays = [pacer.reserve(f"c{n}") for n in range(7)]
    assert delays[:5] == pytest.approx([0] * 5, abs=1e-9)
    assert delays[5] == pytest.approx(0.1)
    assert delays[6] == pytest.approx(0.2)
    # After a quiet spell the bucket is full again.
    clock.now += 10
    assert [pacer.reserve(f"d{n}") for n in range(5)] == pytest.approx([0] * 5, abs=1e-9)


def test_one_chat_gets_at_most_one_message_per_interval() -> None:
    clock = FakeMonotonic()
    pacer = Pacer(Limits(rate=30, per_chat_interval=1.0), monotonic=clock)
    assert pacer.reserve("group") == 0
    assert pacer.reserve("other") == pytest.approx(1 / 30)
    assert pacer.reserve("group") == pytest.approx(1.0)
    assert pacer.reserve("group") == pytest.approx(2.0)
    # Other chats are not held up by the busy one.
    assert pacer.reserve("third") < 0.2


def test_pause_holds_every_chat_until_it_ends() -> None:
    clock = FakeMonotonic()
    pacer = Pacer(Limits(rate=100), monotonic=clock)
    pacer.pause(3.0)
    assert pacer.paused_for == pytest.approx(3.0)
    assert pacer.reserve("a") == pytest.approx(3.0)
    clock.now += 5
    assert pacer.paused_for == 0
    assert pacer.reserve("b") == 0


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        Limits(rate=0)
    with pytest.raises(ValueError, match="burst"):
        Limits(rate=1, burst=0)


async def test_concurrent_waiters_never_exceed_the_rate() -> None:
    pacer = Pacer(Limits(rate=100))
    sent: list[float] = []

    async def worker(n: int) -> None:
        for m in range(10):
            await pacer.wait(f"{n}-{m}")
            sent.append(time.monotonic())

    started = time.monotonic()
    await asyncio.gather(*(worker(n) for n in range(5)))
    elapsed = time.monotonic() - started
    assert len(sent) == 50
    assert elapsed >= 0.48  # 50 messages at 100/s, the first one free
    # The k-th message never goes before its slot (late is possible on a busy machine,
    # early never).
    sent.sort()
    for k, moment in enumerate(sent):
        assert moment >= started + k / 100 - 0.005


def test_each_platform_gets_its_configured_pacing() -> None:
    config = load_config(
        environ={
            "AFFBOT_DELIVERY__TELEGRAM__RATE_PER_SECOND": "20",
            "AFFBOT_DELIVERY__DISCORD__PER_CHAT_SECONDS": "2",
        }
    ).delivery
    assert limits(pacing_for(config, "telegram")) == Limits(20, 1, 1.0)
    assert limits(pacing_for(config, "discord")) == Limits(5, 5, 2.0)
    assert limits(pacing_for(config, "console")) == Limits(100, 10, 0.0)
    # A platform without its own section gets Discord's conservative pacing.
    assert pacing_for(config, "matrix") == config.discord
