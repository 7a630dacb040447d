"""Pacing: how fast one platform's dispatcher may send, overall and per chat.

A generic cell rate algorithm (a token bucket expressed as one "next free slot" time):
each message books a slot ``1/rate`` after the previous one, with up to ``burst`` slots
available at once after a quiet spell. Each chat also has its own minimum interval
(Telegram: about one message per second per chat). A 429 pauses the whole platform: every
sender waits until the pause is over, because the platform's limit is per bot, not per
message.

Slots are booked before sleeping, so concurrent workers never oversubscribe the rate.

Not ``commands.core.token_bucket``, though the rate and burst are the same arithmetic:
that bucket refuses (a command or a click over the limit is answered at once, and a
refusal takes nothing), while the pacer never refuses: every message goes, and booking
its slot runs the schedule into the future so the next sender waits behind it. A bucket
whose tokens may go negative would be this algorithm again, plus the per-chat intervals
and pauses, which a keyed bucket has no use for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

_PRUNE_AT = 10_000  # chat entries kept before old ones are dropped


@dataclass(frozen=True, slots=True)
class Limits:
    """``rate`` messages/s overall with ``burst`` at once; ``per_chat_interval`` seconds
    between two messages to the same chat (0 for none)."""

    rate: float
    burst: int = 1
    per_chat_interval: float = 0.0

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1 or self.per_chat_interval < 0:
            raise ValueError("rate must be positive, burst at least 1, interval not negative")


class Pacer:
    """Books send slots; ``await pacer.wait(chat)`` returns when a message may go."""

    def __init__(self, limits: Limits, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._monotonic = monotonic
        self._interval = 1.0 / limits.rate
        self._next_slot = 0.0  # theoretical time of the next message at the steady rate
        self._chat_ready: dict[str, float] = {}
        self._paused_until = 0.0

    def reserve(self, chat: str) -> float:
        """Book the earliest allowed slot for a message to ``chat``; seconds until it."""
        now = self._monotonic()
        # With a full bucket, up to ``burst`` messages may be ahead of the steady schedule.
        allowed = self._next_slot - (self.limits.burst - 1) * self._interval
        slot = max(now, self._paused_until, allowed)
        self._next_slot = max(self._next_slot, slot) + self._interval
        # A chat that is still cooling down delays only its own message: the global slot
        # is booked now, so other chats are not held up behind it.
        at = max(slot, self._chat_ready.get(chat, 0.0))
        if self.limits.per_chat_interval:
            if len(self._chat_ready) >= _PRUNE_AT:
                self._chat_ready = {c: t for c, t in self._chat_ready.items() if t > now}
            self._chat_ready[chat] = at + self.limits.per_chat_interval
        return at - now

    async def wait(self, chat: str) -> None:
        """Sleep until this message's slot; re-book if a pause began meanwhile."""
        while True:
            delay = self.reserve(chat)
            if delay > 0:
                await asyncio.sleep(delay)
            if self._monotonic() >= self._paused_until:
                return

    def pause(self, seconds: float) -> None:
        """Stop all sending for ``seconds`` (the platform answered 429)."""
        self._paused_until = max(self._paused_until, self._monotonic() + seconds)

    @property
    def backlog(self) -> float:
        """Seconds until the next free slot at the steady rate (booked messages ahead)."""
        return max(0.0, self._next_slot - self._monotonic(), self.paused_for)

    @property
    def paused_for(self) -> float:
        """Seconds left of a pause (0 when not paused)."""
        return max(0.0, self._paused_until - self._monotonic())
