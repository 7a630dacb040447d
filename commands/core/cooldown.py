"""Per-user command rate limits: a token bucket per account, checked by the dispatcher.

Someone repeating /link or /stats as fast as they can type (or a script doing it) gets a
polite cooldown reply that costs no database work. A person using the bot normally never
meets the limit: ``burst`` commands in a row, then one every ``60 / per_minute`` seconds.
Managers are not limited (running a program takes bursts of commands), nor is the local
console (its operator owns the machine and pipes scripts into it). Buckets live in
memory, per process; idle full buckets are dropped so memory follows active users. The
bucket is ``token_bucket``, on the invocation's clock as epoch seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from commands.core.invocation import Actor
from commands.core.reply import Reply, Visibility
from commands.core.token_bucket import TokenBuckets
from commands.core.words import plural


@dataclass(slots=True)
class CommandLimits(TokenBuckets):
    """Token buckets per (platform, user id); ``per_minute = 0`` turns limits off."""

    per_minute: int = 20
    burst: int = 8

    def wait(self, actor: Actor, now: datetime) -> float:
        """Take a token for ``actor``: 0.0 if the command may run, else seconds to wait."""
        if self.per_minute <= 0 or actor.is_manager or actor.local:
            return 0.0
        return self.take(actor.label, now.timestamp())


def cooldown_reply(seconds: float) -> Reply:
    """The polite answer to someone over the limit (shown only to them)."""
    wait = max(1, math.ceil(seconds))
    return Reply(
        text=plural(
            wait,
            "You're going a little fast. Please try again in {n} second.",
            "You're going a little fast. Please try again in {n} seconds.",
        ),
        visibility=Visibility.PRIVATE,
    )
