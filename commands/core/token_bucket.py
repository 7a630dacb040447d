"""A token bucket per key: the one rate limit behind command cooldowns and the tracking
server's per-address limits.

Each key's bucket holds up to ``burst`` tokens and refills at ``per_minute / 60`` tokens a
second; taking a token either succeeds or says how long until one is free, and a refused
take costs nothing. ``per_minute = 0`` turns the limit off. Buckets live in memory; once
more than ``PRUNE_AT`` keys are tracked, buckets that have refilled completely are
dropped (a new bucket starts full, so forgetting a full one changes nothing), which keeps
memory bounded by the keys active recently.

Time is float seconds on any clock that does not run backwards for long; the caller
passes ``now`` (``time.monotonic()`` for the web, the invocation's clock for commands),
so the bucket itself is pure arithmetic and tests need no sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PRUNE_AT = 10_000  # keys tracked before full buckets are dropped


@dataclass(slots=True)
class TokenBuckets:
    """Token buckets keyed by a string (an account, an address)."""

    per_minute: int
    burst: int
    prune_at: int = PRUNE_AT
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict, init=False, repr=False)

    def take(self, key: str, now: float) -> float:
        """Take a token for ``key`` at ``now``: 0.0 if taken, else seconds until one is free.

        A clock that stepped back since the key's last take refills nothing rather than
        draining the bucket.
        """
        if self.per_minute <= 0:
            return 0.0
        rate = self.per_minute / 60
        buckets = self._buckets
        burst = float(self.burst)
        found = buckets.get(key)
        if found is None:
            tokens = burst
        else:
            tokens, last = found
            if now > last:
                tokens = min(burst, tokens + (now - last) * rate)
        if tokens >= 1:
            buckets[key] = (tokens - 1, now)
            if len(buckets) > self.prune_at:
                self._prune(now, rate)
            return 0.0
        buckets[key] = (tokens, now)
        return (1 - tokens) / rate

    @property
    def tracked(self) -> int:
        """How many keys have a bucket. Not ``__len__``: an empty limiter is still a
        limiter, and ``limits or default`` must not replace it."""
        return len(self._buckets)

    def _prune(self, now: float, rate: float) -> None:
        full = [
            key
            for key, (tokens, last) in self._buckets.items()
            if tokens + max(0.0, now - last) * rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]
