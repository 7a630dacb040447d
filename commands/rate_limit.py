"""Per-user command rate limits: a token bucket per account, checked by the dispatcher.

Someone repeating /link or /stats as fast as they can type (or a script doing it) gets a
polite cooldown reply that costs no database work. A person using the bot normally never
meets the limit: ``burst`` commands in a row, then one every ``60 / per_minute`` seconds.
Managers are not limited (running a program takes bursts of commands). Buckets live in
memory, per process; idle full buckets are dropped so memory follows active users.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from commands.invocation import Actor
from commands.reply import Reply, Visibility

PRUNE_AT = 10_000


@dataclass(slots=True)
class CommandLimits:
    """Token buckets per (platform, user id); ``per_minute = 0`` turns limits off."""

    per_minute: int = 20
    burst: int = 8
    _buckets: dict[str, tuple[float, datetime]] = field(default_factory=dict)

    def wait(self, actor: Actor, now: datetime) -> float:
        """Take a token for ``actor``: 0.0 if the command may run, else seconds to wait."""
        if self.per_minute <= 0 or actor.is_manager:
            return 0.0
        rate = self.per_minute / 60
        tokens, last = self._buckets.get(actor.label, (float(self.burst), now))
        elapsed = max(0.0, (now - last).total_seconds())
        tokens = min(float(self.burst), tokens + elapsed * rate)
        if tokens >= 1:
            self._buckets[actor.label] = (tokens - 1, now)
            if len(self._buckets) > PRUNE_AT:
                self._prune(now, rate)
            return 0.0
        self._buckets[actor.label] = (tokens, now)
        return (1 - tokens) / rate

    def _prune(self, now: datetime, rate: float) -> None:
        idle = [
            key
            for key, (tokens, last) in self._buckets.items()
            if tokens + (now - last).total_seconds() * rate >= self.burst
        ]
        for key in idle:
            del self._buckets[key]


def cooldown_reply(seconds: float) -> Reply:
    """The polite answer to someone over the limit (shown only to them)."""
    wait = max(1, math.ceil(seconds))
    unit = "second" if wait == 1 else "seconds"
    return Reply(
        text=f"You're going a little fast. Please try again in {wait} {unit}.",
        visibility=Visibility.PRIVATE,
    )
