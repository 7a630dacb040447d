"""Reporting periods (``today``, ``week``, ``last-month``, …) as UTC time ranges.

Periods follow the reader's calendar: a week starts on Monday 00:00 in the affiliate's
time zone (or the bot's), so "today" means the same thing to the reader as on their clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from commands.registry import Param, ParamKind

PERIODS = ("today", "week", "last-week", "month", "last-month", "all")

# The optional [period] every reporting command takes, this month unless named.
PERIOD_PARAM = Param(
    "period",
    "today, week, last-week, month, last-month or all",
    kind=ParamKind.CHOICE,
    choices=PERIODS,
    required=False,
    default="month",
)


@dataclass(frozen=True, slots=True)
class Period:
    name: str
    start: datetime | None  # None: since the beginning
    end: datetime

    @property
    def label(self) -> str:
        return {
            "today": "today",
            "week": "this week",
            "last-week": "last week",
            "month": "this month",
            "last-month": "last month",
            "all": "all time",
        }[self.name]


def period(name: str, now: datetime, zone: ZoneInfo) -> Period:
    """The range ``[start, end)`` of the named period as of ``now``."""
    local = now.astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    week = midnight - timedelta(days=midnight.weekday())
    month = midnight.replace(day=1)
    previous_month = (month - timedelta(days=1)).replace(day=1)
    ranges: dict[str, tuple[datetime | None, datetime]] = {
        "today": (midnight, local),
        "week": (week, local),
        "last-week": (week - timedelta(days=7), week),
        "month": (month, local),
        "last-month": (previous_month, month),
        "all": (None, local),
    }
    start, end = ranges[name]
    # Re-attach the zone after arithmetic so DST changes inside the range are respected.
    return Period(
        name,
        _utc(start.replace(tzinfo=None), zone) if start is not None else None,
        now if end is local else _utc(end.replace(tzinfo=None), zone),
    )


def _utc(naive_local: datetime, zone: ZoneInfo) -> datetime:
    return naive_local.replace(tzinfo=zone).astimezone(UTC)
