"""Names for reported periods (``2026-W47``) and the period before one, for comparisons.

A period key names what a message is about, so it goes into dedupe keys and season
archives: two firings that report the same week produce the same keys and queue once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from commands.periods import Period


def period_key(span: Period, zone: ZoneInfo) -> str:
    """``2026-W47`` for weeks, ``2026-11`` for months, ``2026-11-18`` for days."""
    end = span.end.astimezone(zone)
    start = span.start.astimezone(zone) if span.start is not None else None
    if span.name in {"week", "last-week"} and start is not None:
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if span.name in {"month", "last-month"} and start is not None:
        return f"{start.year}-{start.month:02d}"
    if span.name == "today" and start is not None:
        return start.date().isoformat()
    return f"until-{end.date().isoformat()}"


def previous(span: Period, zone: ZoneInfo) -> Period | None:
    """The period of the same kind just before ``span`` (last week's week before).

    Computed on the local calendar so a week across a DST change is still Monday to
    Monday. ``None`` for "all time".
    """
    if span.start is None:
        return None
    start = span.start.astimezone(zone).replace(tzinfo=None)
    if span.name in {"month", "last-month"}:
        before = (start - timedelta(days=1)).replace(day=1)
    elif span.name in {"week", "last-week"}:
        before = start - timedelta(days=7)
    else:
        before = start - timedelta(days=1)
    return Period(span.name, _utc(before, zone), span.start)


def day_boundaries(span: Period, zone: ZoneInfo) -> list[datetime]:
    """Local midnights from the period's start through its end, as UTC times."""
    if span.start is None:
        return []
    day = span.start.astimezone(zone).replace(tzinfo=None, hour=0, minute=0, second=0)
    boundaries = []
    while True:
        moment = _utc(day, zone)
        if moment >= span.end:
            boundaries.append(span.end)
            return boundaries
        boundaries.append(moment)
        day += timedelta(days=1)


def _utc(naive_local: datetime, zone: ZoneInfo) -> datetime:
    return naive_local.replace(tzinfo=zone).astimezone(UTC)
