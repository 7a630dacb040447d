"""The keyed token bucket behind cooldowns and the web's per-address limits."""

from __future__ import annotations

import pytest

from commands.core.token_bucket import TokenBuckets


def test_a_full_bucket_allows_a_burst_then_says_how_long_to_wait() -> None:
    buckets = TokenBuckets(per_minute=30, burst=3)  # one token every 2 seconds
    assert [buckets.take("a", 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", 100.0) == pytest.approx(2.0)
    # Half a token later, the wait is the other half.
    assert buckets.take("a", 101.0) == pytest.approx(1.0)
    # A refused take costs nothing: the token that was due at 102 is still there.
    assert buckets.take("a", 102.0) == 0.0
    assert buckets.take("a", 102.0) == pytest.approx(2.0)


def test_it_refills_at_its_rate_up_to_the_burst() -> None:
    buckets = TokenBuckets(per_minute=60, burst=2)
    assert buckets.take("a", 0.0) == 0.0
    assert buckets.take("a", 0.0) == 0.0
    assert buckets.take("a", 0.0) == pytest.approx(1.0)
    # An hour idle refills to the burst, not to 3600 tokens.
    assert [buckets.take("a", 3600.0) for _ in range(2)] == [0.0, 0.0]
    assert buckets.take("a", 3600.0) == pytest.approx(1.0)


def test_each_key_has_its_own_bucket_and_zero_turns_it_off() -> None:
    buckets = TokenBuckets(per_minute=60, burst=1)
    assert buckets.take("a", 0.0) == 0.0
    assert buckets.take("a", 0.0) > 0
    assert buckets.take("b", 0.0) == 0.0
    off = TokenBuckets(per_minute=0, burst=1)
    assert all(off.take("a", 0.0) == 0.0 for _ in range(1000))
    assert off.tracked == 0


def test_a_clock_that_steps_back_refills_nothing() -> None:
    buckets = TokenBuckets(per_minute=60, burst=1)
    assert buckets.take("a", 50.0) == 0.0
    assert buckets.take("a", 10.0) == pytest.approx(1.0)
    assert buckets.take("a", 11.0) == 0.0


def test_an_empty_limiter_is_still_true() -> None:
    """``limits or CommandLimits(per_minute=0)`` keeps a configured, still empty limiter."""
    assert TokenBuckets(per_minute=60, burst=1)


def test_past_the_prune_size_only_full_buckets_are_forgotten() -> None:
    buckets = TokenBuckets(per_minute=60, burst=2, prune_at=100)
    for number in range(100):
        buckets.take(f"idle-{number}", 0.0)
    assert buckets.tracked == 100
    # Two seconds on, every idle bucket is full again; "busy" has just spent its burst.
    buckets.take("busy", 2.0)
    buckets.take("busy", 2.0)
    assert buckets.tracked == 1
    assert buckets.take("busy", 2.0) == pytest.approx(1.0)
    # A forgotten bucket starts full, as it would have been.
    assert buckets.take("idle-0", 2.0) == 0.0
    assert buckets.take("idle-0", 2.0) == 0.0
