"""Retry timing for transient failures: exponential backoff with jitter, then give up."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Attempt n (1-based) waits about ``base * 2**(n-1)`` seconds, at most ``cap``.

    "Equal jitter": half the delay is fixed and half random, so retries from a broadcast
    that failed all at once (a platform outage) spread out instead of returning as one
    wave, yet never come back sooner than half the intended delay.
    """

    base: float = 5.0
    cap: float = 900.0
    max_attempts: int = 8

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base or self.max_attempts < 1:
            raise ValueError("backoff needs 0 < base <= cap and at least one attempt")

    def exhausted(self, attempts: int) -> bool:
        """Whether a message that has had ``attempts`` tries should be given up."""
        return attempts >= self.max_attempts

    def delay(self, attempts: int, rng: random.Random) -> float:
        """Seconds to wait after the ``attempts``-th failed try."""
        full: float = min(self.cap, self.base * 2.0 ** max(0, attempts - 1))
        return full / 2 + rng.uniform(0, full / 2)
