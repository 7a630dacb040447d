"""Reading caps for display: how a cap reads, and how much of it is used right now.

Writing caps and enforcing them belong to the tracking rules; these helpers only show
the caps in /programs, /stats and /report.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from commands.caps.rules import cap_usages
from commands.core import calendar
from commands.core.money import format_money
from commands.core.words import plural
from storage import Store
from storage.performance import CapInForce

_PERIOD_WORDS = {"day": "day", "week": "week", "month": "month", "all": "in total"}


def describe_in_force(cap: CapInForce, currency: str) -> str:
    """``100 conversions a month``, ``500.00 USD commission a week per affiliate``."""
    amount = (
        plural(cap.limit_value, "{n} conversion", "{n} conversions")
        if cap.metric == "conversions"
        else f"{format_money(cap.limit_value, currency)} commission"
    )
    period = "in total" if cap.period == "all" else f"a {_PERIOD_WORDS[cap.period]}"
    scope = " per affiliate" if cap.scope == "affiliate" else ""
    return f"{amount} {period}{scope}"


def period_start(period: str, now: datetime, zone: ZoneInfo) -> datetime | None:
    """Start of the cap's current period in ``zone`` (``None`` for ``all``)."""
    if period not in calendar.UNITS:
        return None
    return calendar.window(period, now, zone).start


async def usage_lines(
    store: Store,
    caps: list[CapInForce],
    *,
    currency_of: dict[int, str],
    slug_of: dict[int, str],
    now: datetime,
    zone: ZoneInfo,
    affiliate_id: int | None = None,
) -> list[str]:
    """``spring-sale: 40 of 100 conversions a month (40%)`` for each cap.

    With ``affiliate_id``, per-affiliate caps show that affiliate's own use; program-wide
    caps show the program's total (a number, not anyone's share of it).
    """
    lines = []
    for cap in caps:
        currency = currency_of[cap.program_id]
        if cap.scope == "affiliate" and affiliate_id is None:
            lines.append(f"{slug_of[cap.program_id]}: {describe_in_force(cap, currency)}")
            continue
        start = period_start(cap.period, now, zone)
        own = affiliate_id if cap.scope == "affiliate" else None
        used = await store.performance.cap_usage(cap, start, now, affiliate_id=own)
        shown = str(used) if cap.metric == "conversions" else format_money(used, currency)
        share = used * 100 // cap.limit_value
        lines.append(
            f"{slug_of[cap.program_id]}: {shown} of {describe_in_force(cap, currency)} ({share}%)"
        )
    return lines


async def full_program_caps(
    store: Store, program_id: int, *, now: datetime, zone: ZoneInfo
) -> dict[int, datetime | None]:
    """The program-wide caps that are full right now, by cap id, with the end of their
    period (``None``: an all-time cap). Read the way the conversion path and the
    redirect decide, so a cap shown as reached is one that is being enforced."""
    return {
        usage.cap.id: usage.window.end
        for usage in await cap_usages(store, program_id, None, now, zone)
        if usage.reached()
    }
