"""The calendar: days, weeks and months on a zone's clock, and the reporting periods
built from them (``today``, ``week``, ``last-month``, …) with their names (``2026-W47``).

Every window in the bot (reporting periods, cap periods, digest days) comes from here, so
they all agree where a day begins. A week starts on Monday 00:00 and a month on the 1st
00:00 in the reader's time zone (the affiliate's or the bot's). The arithmetic runs on
naive local times and the zone is attached after: a day across a DST change is 23 or 25
hours, and it still ends at the next local midnight. A local midnight a DST change skips
begins at the change; one it repeats begins at its first occurrence.
"""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from commands.core.registry import Param, ParamKind

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


Unit = Literal["day", "week", "month"]
UNITS: tuple[Unit, ...] = ("day", "week", "month")


@dataclass(frozen=True, slots=True)
class Window:
    """One whole day, week or month of a zone's calendar: ``[start, end)`` in UTC, and its
    key (``2026-11-18``, ``2026-W47``, ``2026-11``)."""

    unit: Unit
    start: datetime
    end: datetime
    key: str


def window(unit: Unit, at: datetime, zone: ZoneInfo) -> Window:
    """The day, week or month of ``zone``'s calendar that contains the instant ``at``."""
    return _window(unit, _floor(unit, _local(at, zone)), zone)


def day_window(day: date, zone: ZoneInfo) -> Window:
    """The local day ``day`` of ``zone``, midnight to midnight."""
    return _window("day", datetime.combine(day, time(0)), zone)


def shifted(span: Window, steps: int, zone: ZoneInfo) -> Window:
    """The window ``steps`` after ``span`` (before it when negative), of the same unit."""
    local_start = _floor(span.unit, _local(span.start, zone))
    return _window(span.unit, _step(span.unit, local_start, steps), zone)


def add_months(at: datetime, months: int) -> datetime:
    """The same day and time ``months`` later (clamped to the month's last day:
    Jan 31 + 1 → Feb 28), on whatever clock ``at`` is on."""
    index = at.month - 1 + months
    year, month = at.year + index // 12, index % 12 + 1
    return at.replace(year=year, month=month, day=min(at.day, monthrange(year, month)[1]))


def period(name: str, now: datetime, zone: ZoneInfo) -> Period:
    """The range ``[start, end)`` of the named period as of ``now``."""
    if name == "all":
        return Period(name, None, now)
    current = window(_PERIOD_UNITS[name], now, zone)
    if name.startswith("last-"):
        return Period(name, shifted(current, -1, zone).start, current.start)
    return Period(name, current.start, now)


def period_key(span: Period, zone: ZoneInfo) -> str:
    """``2026-W47`` for weeks, ``2026-11`` for months, ``2026-11-18`` for days."""
    if span.start is not None and span.name in _PERIOD_UNITS:
        return _key(_PERIOD_UNITS[span.name], _local(span.start, zone))
    return f"until-{span.end.astimezone(zone).date().isoformat()}"


def previous(span: Period, zone: ZoneInfo) -> Period | None:
    """The period of the same kind just before ``span`` (last week's week before).

    Computed on the local calendar so a week across a DST change is still Monday to
    Monday. ``None`` for "all time".
    """
    if span.start is None:
        return None
    return Period(span.name, _before(span.start, span.name, zone), span.start)


def day_boundaries(span: Period, zone: ZoneInfo) -> list[datetime]:
    """Local midnights from the period's start through its end, as UTC times."""
    if span.start is None:
        return []
    day = window("day", span.start, zone)
    boundaries = []
    while day.start < span.end:
        boundaries.append(day.start)
        day = shifted(day, 1, zone)
    return [*boundaries, span.end]


def previous_span(span: Period, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
    """The same stretch of the period before: this month so far (18 days) compares with
    the first 18 days of last month. ``None`` for ``all``."""
    if span.start is None:
        return None
    start = _before(span.start, span.name, zone)
    return start, min(start + (span.end - span.start), span.start)


def affiliate_zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    """The affiliate's own time zone, or the bot's."""
    return ZoneInfo(name) if name else default


_PERIOD_UNITS: dict[str, Unit] = {
    "today": "day",
    "week": "week",
    "last-week": "week",
    "month": "month",
    "last-month": "month",
}


def _before(start: datetime, name: str, zone: ZoneInfo) -> datetime:
    """The start of the window before the one beginning at ``start``, by period name."""
    unit = _PERIOD_UNITS.get(name, "day")
    return _utc(_step(unit, _floor(unit, _local(start, zone)), -1), zone)


def _window(unit: Unit, local_start: datetime, zone: ZoneInfo) -> Window:
    end = _step(unit, local_start, 1)
    return Window(unit, _utc(local_start, zone), _utc(end, zone), _key(unit, local_start))


def _local(at: datetime, zone: ZoneInfo) -> datetime:
    """``at`` on ``zone``'s wall clock, naive; ``fold`` cleared, so a repeated local time
    built from it (a midnight DST repeats) means its first occurrence."""
    return at.astimezone(zone).replace(tzinfo=None, fold=0)


def _floor(unit: Unit, local: datetime) -> datetime:
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "week":
        return midnight - timedelta(days=midnight.weekday())
    if unit == "month":
        return midnight.replace(day=1)
    return midnight


def _step(unit: Unit, local: datetime, steps: int) -> datetime:
    if unit == "month":
        return add_months(local, steps)
    return local + timedelta(days=steps * (7 if unit == "week" else 1))


def _key(unit: Unit, local_start: datetime) -> str:
    if unit == "week":
        year, week, _ = local_start.isocalendar()
        return f"{year}-W{week:02d}"
    if unit == "month":
        return f"{local_start.year}-{local_start.month:02d}"
    return local_start.date().isoformat()


def _utc(naive_local: datetime, zone: ZoneInfo) -> datetime:
    return naive_local.replace(tzinfo=zone).astimezone(UTC)
