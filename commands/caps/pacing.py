"""Cap pacing: when a cap will be full if the recent pace continues.

A forecast, not a promise: the pace is the usage over a recent stretch (the feedback's
reported week), projected from the cap's usage now. Caps that are full say so; caps the
pace does not fill before their period ends say that instead of a date.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal, cast
from zoneinfo import ZoneInfo

from commands.caps.rules import window
from commands.caps.usage import describe_in_force
from storage import Store
from storage.performance import CapInForce

Period = Literal["day", "week", "month", "all"]


async def pacing_lines(
    store: Store,
    caps: list[CapInForce],
    *,
    slug_of: dict[int, str],
    currency_of: dict[int, str],
    now: datetime,
    zone: ZoneInfo,
    pace: tuple[datetime, datetime],
    affiliate_id: int | None = None,
    pace_name: str = "this week's",
) -> list[str]:
    """``shop (100 conversions a month): at this week's rate reached on Thu 26 Nov`` for
    each cap. Each line names its cap: a program can have a program-wide and a
    per-affiliate cap at once, and two lines saying "the cap" would not tell them apart.

    Args:
        store: where to read usage.
        caps: the caps in force to forecast.
        slug_of: program id → slug, for the line's label.
        currency_of: program id → currency, for commission caps' limits.
        now: the moment the forecast starts from.
        zone: the calendar of cap periods and of the date shown.
        pace: ``[start, end)`` whose usage sets the pace.
        affiliate_id: forecast per-affiliate caps for this affiliate (program-wide caps
            use the program's total); without it per-affiliate caps are left out.
        pace_name: how the line names the pace (``this week's``).
    """
    lines = []
    seconds = (pace[1] - pace[0]).total_seconds()
    for cap in caps:
        if cap.scope == "affiliate" and affiliate_id is None:
            continue
        own = affiliate_id if cap.scope == "affiliate" else None
        span = window(cast(Period, cap.period), now, zone)
        used = await store.performance.cap_usage(cap, span.start, now, affiliate_id=own)
        named = (
            f"{slug_of[cap.program_id]} ({describe_in_force(cap, currency_of[cap.program_id])})"
        )
        if used >= cap.limit_value:
            lines.append(f"{named}: reached")
            continue
        recent = await store.performance.cap_usage(cap, pace[0], pace[1], affiliate_id=own)
        if recent <= 0 or seconds <= 0:
            lines.append(f"{named}: not reached at {pace_name} rate")
            continue
        left = (cap.limit_value - used) * seconds / recent
        reached = now + timedelta(seconds=left)
        if span.end is not None and reached >= span.end:
            lines.append(f"{named}: not reached this {cap.period} at {pace_name} rate")
            continue
        lines.append(
            f"{named}: at {pace_name} rate reached on {reached.astimezone(zone):%a %d %b}"
        )
    return lines
