"""The weekly leaderboard post: ranking, privacy choices, movers, archive, milestones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from commands.broadcasts.weekly_post import archive_season, leaderboard_messages
from commands.core import calendar
from commands.core.reply import Reply
from commands.reporting import render_season, season_label
from storage import Database
from storage.schedules import ScheduleTarget
from tests.activity import Member, add_conversions, add_member, add_program
from tests.conftest import Clock

UTC_ZONE = ZoneInfo("UTC")
MONDAY = datetime(2026, 11, 9, 10, tzinfo=UTC)  # the Monday of "last week" for the clock
WEEK_BEFORE = MONDAY - timedelta(days=7)


async def convert(database: Database, member: Member, count: int, when: datetime = MONDAY) -> None:
    await add_conversions(database, member, [when + timedelta(minutes=n) for n in range(count)])


async def test_top_ten_ranks_by_conversions_with_ties_privacy_and_movers(
    database: Database, clock: Clock
) -> None:
    now = clock()
    program = await add_program(database, now)
    members = [await add_member(database, now, program, f"Aff{n:02d}") for n in range(12)]
    hidden = await add_member(database, now, program, "Shy", visibility="hidden")
    aliased = await add_member(
        database, now, program, "Real Name", visibility="alias", alias="Zed"
    )
    # Last week: Aff00 has 20, Aff01..Aff11 have 12..2 (Aff01 and Aff02 tie at 12).
    await convert(database, members[0], 20)
    for n, count in enumerate([12, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3], start=1):
        await convert(database, members[n], count)
    await convert(database, hidden, 50)
    await convert(database, aliased, 9)
    # The week before: Aff05 led, Aff00 was 3rd; Aff11 was in the top 10.
    await convert(database, members[5], 30, WEEK_BEFORE)
    await convert(database, members[11], 25, WEEK_BEFORE)
    await convert(database, members[0], 20, WEEK_BEFORE)

    span = calendar.period("last-week", now, UTC_ZONE)
    async with database.transaction() as store:
        season = await archive_season(store, span, UTC_ZONE, now=now)
    assert season.period_key == "2026-W46"
    top = [(e["rank"], e["name"], e["conversions"]) for e in season.entries[:8]]
    # Shy is hidden: the place is kept (ranks are the same for everyone), the name is not.
    assert top == [
        (1, "(hidden)", 50),
        (2, "Aff00", 20),
        (3, "Aff01", 12),
        (3, "Aff02", 12),
        (5, "Aff03", 11),
        (6, "Aff04", 10),
        (7, "Aff05", 9),
        (7, "Zed", 9),
    ]
    names = [e["name"] for e in season.entries]
    assert "Shy" not in names
    assert "Real Name" not in names
    assert "Zed" in names

    reply = render_season(season, season_label(season, UTC_ZONE))
    assert reply.title == "Leaderboard, week 46 (09 Nov–15 Nov 2026)"
    assert reply.table is not None
    assert len(reply.table.rows) == 10
    assert reply.table.rows[0] == ("1", "(hidden)", "50", "new")
    assert reply.table.rows[1] == ("2", "Aff00", "20", "▲1")
    assert reply.table.rows[6][1:] == ("Aff05", "9", "▼6")
    assert reply.table.rows[4][3] == "new"
    assert "Biggest climbers: Aff00 (up 1)" in reply.notes
    assert any(note.startswith("New in the top 10: Aff01, Aff02") for note in reply.notes)
    # The hidden affiliate passed 50 conversions, but the news never points at them.
    assert not any("(hidden)" in note or "Shy" in note for note in reply.notes)
    # Aff00 passed 25 all-time conversions (20 the week before + 20 last week).
    assert "Milestone: Aff00 passed 25 conversions!" in reply.notes


async def test_posted_season_does_not_change_after_late_conversions(
    database: Database, clock: Clock
) -> None:
    now = clock()
    program = await add_program(database, now)
    ann = await add_member(database, now, program, "Ann")
    bob = await add_member(database, now, program, "Bob")
    await convert(database, ann, 3)
    await convert(database, bob, 1)
    span = calendar.period("last-week", now, UTC_ZONE)
    targets = [ScheduleTarget("telegram", "-100"), ScheduleTarget("discord", "55")]
    async with database.transaction() as store:
        messages = await leaderboard_messages(
            store, span, UTC_ZONE, targets, now=now, broadcast_key="lb"
        )
    assert [m.dedupe_key for m in messages] == [
        "leaderboard:2026-W46:all:telegram:-100",
        "leaderboard:2026-W46:all:discord:55",
    ]
    assert {m.target_kind for m in messages} == {"chat"}
    posted = Reply.from_json(messages[0].payload)
    # A late batch of conversions for last week arrives after the post.
    await convert(database, bob, 5, MONDAY + timedelta(days=2))
    async with database.transaction() as store:
        again = await leaderboard_messages(
            store, span, UTC_ZONE, targets, now=now + timedelta(days=1), broadcast_key="lb2"
        )
        season = await store.weekly.season("2026-W46")
        assert await store.weekly.seasons() == ["2026-W46"]
    assert Reply.from_json(again[0].payload) == posted
    assert season is not None
    assert [(e["name"], e["conversions"]) for e in season.entries] == [("Ann", 3), ("Bob", 1)]


async def test_program_scope_and_empty_week(database: Database, clock: Clock) -> None:
    now = clock()
    shop = await add_program(database, now, "shop")
    app = await add_program(database, now, "app")
    ann = await add_member(database, now, shop, "Ann")
    await convert(database, ann, 2)
    span = calendar.period("last-week", now, UTC_ZONE)
    async with database.transaction() as store:
        empty = await archive_season(store, span, UTC_ZONE, now=now, program_id=app)
        full = await archive_season(store, span, UTC_ZONE, now=now, program_id=shop)
    assert empty.scope == f"program:{app}"
    assert empty.entries == []
    assert [e["name"] for e in full.entries] == ["Ann"]
    reply = render_season(empty, "week 46")
    assert reply.table is None
    assert "No conversions" in reply.text
