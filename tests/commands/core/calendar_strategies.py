"""Instants and zones for calendar property tests: random instants, and instants near the
DST changes of zones whose changes are odd (half an hour, 45 minutes, none)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

ZONE_NAMES = (
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kolkata",
    "UTC",
)
zones = st.sampled_from([ZoneInfo(name) for name in ZONE_NAMES])

EARLIEST = datetime(1971, 1, 1)  # noqa: DTZ001 - hypothesis takes naive bounds
LATEST = datetime(2099, 12, 31)  # noqa: DTZ001


@cache
def changes(zone: ZoneInfo) -> tuple[datetime, ...]:
    """UTC midnights of days (2000-2040) on which the zone's UTC offset changes."""
    day = datetime(2000, 1, 1, tzinfo=UTC)
    found = []
    offset = day.astimezone(zone).utcoffset()
    while day.year < 2040:
        day += timedelta(days=1)
        now = day.astimezone(zone).utcoffset()
        if now != offset:
            found.append(day - timedelta(days=1))
            offset = now
    return tuple(found)


@st.composite
def near_a_change(draw: st.DrawFn, zone: ZoneInfo) -> datetime:
    found = changes(zone)
    if not found:
        return draw(st.datetimes(EARLIEST, LATEST, timezones=st.just(UTC)))
    anchor = draw(st.sampled_from(found))
    return anchor + timedelta(seconds=draw(st.integers(-3 * 86_400, 3 * 86_400)))


@st.composite
def instants_in(draw: st.DrawFn) -> tuple[datetime, ZoneInfo]:
    """A zone and an instant (UTC): anywhere in 1971-2099, or within days of a DST change."""
    zone = draw(zones)
    anywhere = st.datetimes(EARLIEST, LATEST, timezones=st.just(UTC))
    return draw(st.one_of(anywhere, near_a_change(zone))), zone
