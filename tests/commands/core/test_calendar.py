"""Days, weeks, months and reporting periods follow the reader's calendar, including
across DST changes (examples, then properties over random instants and DST zones)."""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from commands.core import calendar
from commands.core.calendar import period, period_key
from tests.commands.core.calendar_strategies import EARLIEST, LATEST, instants_in, zones

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # a Wednesday


def test_week_starts_monday_in_the_readers_zone() -> None:
    week = period("week", NOW, ZoneInfo("UTC"))
    assert week.start == datetime(2026, 11, 16, tzinfo=UTC)
    assert week.end == NOW
    last = period("last-week", NOW, ZoneInfo("UTC"))
    assert last.start == datetime(2026, 11, 9, tzinfo=UTC)
    assert last.end == datetime(2026, 11, 16, tzinfo=UTC)


def test_today_in_another_zone() -> None:
    tokyo = period("today", datetime(2026, 11, 18, 20, 0, tzinfo=UTC), ZoneInfo("Asia/Tokyo"))
    # 20:00 UTC is already 05:00 on the 19th in Tokyo.
    assert tokyo.start == datetime(2026, 11, 18, 15, 0, tzinfo=UTC)


def test_months_and_all() -> None:
    month = period("month", NOW, ZoneInfo("UTC"))
    assert month.start == datetime(2026, 11, 1, tzinfo=UTC)
    last = period("last-month", datetime(2026, 1, 10, tzinfo=UTC), ZoneInfo("UTC"))
    assert last.start == datetime(2025, 12, 1, tzinfo=UTC)
    assert last.end == datetime(2026, 1, 1, tzinfo=UTC)
    assert period("all", NOW, ZoneInfo("UTC")).start is None


def test_last_month_across_a_dst_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    last = period("last-month", datetime(2026, 11, 5, tzinfo=UTC), berlin)
    # October 1 is CEST (UTC+2); November 1 is CET (UTC+1).
    assert last.start == datetime(2026, 9, 30, 22, 0, tzinfo=UTC)
    assert last.end == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)


def test_windows_and_their_keys() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    day = calendar.window("day", NOW, berlin)
    assert (day.start, day.end, day.key) == (
        datetime(2026, 11, 17, 23, 0, tzinfo=UTC),
        datetime(2026, 11, 18, 23, 0, tzinfo=UTC),
        "2026-11-18",
    )
    assert calendar.window("week", NOW, berlin).key == "2026-W47"
    assert calendar.window("month", NOW, berlin).key == "2026-11"
    # The day the clocks go back is 25 hours long, and still one day.
    autumn = calendar.day_window(date(2026, 10, 25), berlin)
    assert autumn.end - autumn.start == timedelta(hours=25)
    assert calendar.shifted(autumn, 1, berlin).key == "2026-10-26"


def test_adding_months_clamps_the_day() -> None:
    assert calendar.add_months(datetime(2026, 1, 31, 9, tzinfo=UTC), 1) == datetime(
        2026, 2, 28, 9, tzinfo=UTC
    )
    assert calendar.add_months(datetime(2028, 1, 31, tzinfo=UTC), 1).day == 29
    assert calendar.add_months(datetime(2026, 11, 30, tzinfo=UTC), 3) == datetime(
        2027, 2, 28, tzinfo=UTC
    )
    assert calendar.add_months(datetime(2026, 3, 31, tzinfo=UTC), -1).day == 28


# Properties, over random instants and instants near the DST changes of odd zones.
EXAMPLES = settings(max_examples=300, deadline=None)
LENGTHS = {  # how long a window can be, a DST change of up to an hour included
    "day": (timedelta(hours=23), timedelta(hours=25)),
    "week": (timedelta(days=7, hours=-1), timedelta(days=7, hours=1)),
    "month": (timedelta(days=28, hours=-1), timedelta(days=31, hours=1)),
}


def _wall(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


@EXAMPLES
@given(instants_in(), st.sampled_from(calendar.UNITS))
def test_a_window_holds_its_instant_and_starts_on_a_local_boundary(
    case: tuple[datetime, ZoneInfo], unit: calendar.Unit
) -> None:
    at, zone = case
    span = calendar.window(unit, at, zone)
    assert span.start <= at < span.end
    assert span.start.tzinfo is UTC
    assert span.end.tzinfo is UTC
    low, high = LENGTHS[unit]
    assert low <= span.end - span.start <= high
    for edge in (span.start, span.end):
        wall = _wall(edge, zone)
        assert wall.time() == time(0)
        if unit == "week":
            assert wall.weekday() == 0
        if unit == "month":
            assert wall.day == 1
    local_start = _wall(span.start, zone)
    year, week, _ = local_start.isocalendar()
    assert (
        span.key
        == {
            "day": local_start.date().isoformat(),
            "week": f"{year}-W{week:02d}",
            "month": f"{local_start.year}-{local_start.month:02d}",
        }[unit]
    )
    # Every instant of the window names the same window.
    assert calendar.window(unit, span.start, zone) == span
    assert calendar.window(unit, span.end - timedelta(microseconds=1), zone) == span


@EXAMPLES
@given(instants_in(), st.sampled_from(calendar.UNITS), st.integers(-30, 30))
def test_windows_follow_each_other_without_gaps(
    case: tuple[datetime, ZoneInfo], unit: calendar.Unit, steps: int
) -> None:
    at, zone = case
    span = calendar.window(unit, at, zone)
    following = calendar.shifted(span, 1, zone)
    assert following.start == span.end
    assert calendar.shifted(following, -1, zone) == span
    far = calendar.shifted(span, steps, zone)
    assert calendar.shifted(far, -steps, zone) == span
    assert (far.start > span.start) == (steps > 0)


@EXAMPLES
@given(instants_in())
def test_the_days_of_a_week_and_a_month_tile_it(case: tuple[datetime, ZoneInfo]) -> None:
    at, zone = case
    units: tuple[calendar.Unit, ...] = ("week", "month")
    for unit in units:
        span = calendar.window(unit, at, zone)
        day = calendar.window("day", span.start, zone)
        count = 0
        while day.start < span.end:
            count += 1
            day = calendar.shifted(day, 1, zone)
        assert day.start == span.end
        local = _wall(span.start, zone)
        assert count == (7 if unit == "week" else monthrange(local.year, local.month)[1])


@EXAMPLES
@given(st.dates(EARLIEST.date(), LATEST.date()), zones)
def test_a_local_date_is_the_day_window_of_its_instants(day: date, zone: ZoneInfo) -> None:
    span = calendar.day_window(day, zone)
    assert span.key == day.isoformat()
    assert calendar.window("day", span.start, zone) == span
    assert _wall(span.start, zone).date() == day


@EXAMPLES
@given(st.datetimes(EARLIEST, LATEST, timezones=st.just(UTC)), st.integers(-240, 240))
def test_adding_months_moves_the_month_and_clamps_only_the_day(at: datetime, months: int) -> None:
    moved = calendar.add_months(at, months)
    assert (moved.year * 12 + moved.month) - (at.year * 12 + at.month) == months
    assert moved.day == min(at.day, monthrange(moved.year, moved.month)[1])
    assert (moved.time(), moved.tzinfo) == (at.time(), at.tzinfo)
    if at.day <= 28:
        assert calendar.add_months(moved, -months) == at


@EXAMPLES
@given(instants_in())
def test_periods_are_made_of_windows(case: tuple[datetime, ZoneInfo]) -> None:
    now, zone = case
    kinds: tuple[tuple[str, calendar.Unit], ...] = (
        ("today", "day"),
        ("week", "week"),
        ("month", "month"),
    )
    for name, unit in kinds:
        current = period(name, now, zone)
        span = calendar.window(unit, now, zone)
        assert (current.start, current.end) == (span.start, now)
        assert period_key(current, zone) == span.key
        before = calendar.shifted(span, -1, zone)
        if name != "today":
            last = period(f"last-{name}", now, zone)
            assert (last.start, last.end) == (before.start, span.start)
            assert period_key(last, zone) == before.key
        earlier = calendar.previous(current, zone)
        assert earlier is not None
        assert (earlier.start, earlier.end) == (before.start, span.start)
        stretch = calendar.previous_span(current, zone)
        assert stretch is not None
        assert stretch[0] == before.start
        assert stretch[1] == min(before.start + (now - span.start), span.start)
        boundaries = calendar.day_boundaries(current, zone)
        assert boundaries[0] == span.start
        assert boundaries[-1] == now
        assert boundaries == sorted(set(boundaries))
        assert all(_wall(moment, zone).time() == time(0) for moment in boundaries[:-1])
