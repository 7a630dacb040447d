"""Cap rules: what counts against a cap, when a conversion is over it, and its alerts.

A cap limits conversions (or commission) per day, week, month or all time, for the whole
program or for each affiliate. Its action decides what reaching it means: ``notify`` only
alerts; ``fallback`` and ``pause`` are hard caps, so later conversions are recorded but
marked ``over_cap`` (they earn nothing), and new clicks go to the fallback URL (or, for
``pause``, to the fallback URL if there is one and a "not available" page otherwise).
Periods follow the bot's time zone. Each alert threshold fires once per cap, subject and
period, guarded by a unique key in ``cap_events``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from commands.core import calendar
from storage import Store
from storage.caps import Cap, CapEvent, CapPeriod

DEFAULT_ALERT_PERCENTS = (90, 100)


@dataclass(frozen=True, slots=True)
class Window:
    """One period of a cap: ``[start, end)`` in UTC (``None`` for all time) and its key."""

    start: datetime | None
    end: datetime | None
    key: str


def window(period: CapPeriod, at: datetime, zone: ZoneInfo) -> Window:
    """The period containing ``at``, on the calendar of ``zone``."""
    if period == "all":
        return Window(None, None, "all")
    span = calendar.window(period, at, zone)
    return Window(span.start, span.end, span.key)


@dataclass(frozen=True, slots=True)
class CapUsage:
    cap: Cap
    window: Window
    affiliate_id: int | None  # set for per-affiliate caps
    before: int  # usage before the conversion being decided

    def reached(self) -> bool:
        return self.before >= self.cap.limit_value


async def cap_usages(
    store: Store,
    program_id: int,
    affiliate_id: int | None,
    at: datetime,
    zone: ZoneInfo,
    *,
    lock: bool = False,
) -> list[CapUsage]:
    """Current usage of every cap in force for this program (and affiliate) at ``at``.

    With ``lock``, cap decisions for the program are serialised until the transaction
    ends (only when it has caps), so concurrent conversions cannot both take the last slot.
    """
    found = []
    active = await store.caps.active(program_id)
    if active and lock:
        await store.caps.lock_program(program_id)
    for cap in active:
        if cap.scope == "affiliate" and affiliate_id is None:
            continue
        subject = affiliate_id if cap.scope == "affiliate" else None
        span = window(cap.period, at, zone)
        before = await store.conversions.usage(
            program_id, cap.metric, span.start, span.end, affiliate_id=subject
        )
        found.append(CapUsage(cap, span, subject, before))
    return found


def over_hard_cap(found: list[CapUsage], commission_minor: int) -> bool:
    """Whether a conversion (with this commission) would go past a hard cap."""
    for usage in found:
        if not usage.cap.hard:
            continue
        added = 1 if usage.cap.metric == "conversions" else commission_minor
        if usage.before + added > usage.cap.limit_value:
            return True
    return False


async def record_cap_crossings(
    store: Store,
    found: list[CapUsage],
    commission_minor: int,
    *,
    now: datetime,
    default_percents: tuple[int, ...],
) -> list[CapEvent]:
    """Record a cap event for every threshold the new conversion took usage past.

    Each (cap, subject, period, threshold) is recorded once, so alerts never repeat even
    when conversions arrive concurrently or thresholds are crossed again after reversals.
    """
    recorded = []
    for usage in found:
        added = 1 if usage.cap.metric == "conversions" else commission_minor
        after = usage.before + added
        for threshold in usage.cap.alert_percents or default_percents:
            if after * 100 < threshold * usage.cap.limit_value:
                continue
            event = CapEvent(
                cap_id=usage.cap.id,
                program_id=usage.cap.program_id,
                affiliate_id=usage.affiliate_id,
                period_key=usage.window.key,
                threshold=threshold,
                usage_value=after,
                limit_value=usage.cap.limit_value,
                occurred_at=now,
            )
            if await store.caps.record_event(event):
                recorded.append(event)
    return recorded


async def reached_hard_cap(
    store: Store, program_id: int, affiliate_id: int, now: datetime, zone: ZoneInfo
) -> Cap | None:
    """The hard cap that is full right now for this affiliate's clicks, if any."""
    for usage in await cap_usages(store, program_id, affiliate_id, now, zone):
        if usage.cap.hard and usage.reached():
            return usage.cap
    return None
