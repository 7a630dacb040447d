"""Reporting periods follow the reader's calendar, including across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from commands.periods import period

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
