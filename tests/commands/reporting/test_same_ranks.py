"""Every viewer sees the same ranks: the affiliate, a hidden one, a stranger, a manager,
/stats, /report, the weekly post and weekly feedback (issue 16, bug 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from commands.broadcasts.feedback import feedback_messages
from commands.broadcasts.weekly_post import archive_season
from commands.core import calendar
from commands.core.dispatcher import Dispatcher
from commands.core.invocation import Actor, ChatKind
from commands.core.reply import Reply
from commands.reporting.export import export_table
from storage import Database
from tests.conftest import Chat, Clock
from tests.core_seed import add_conversion

UTC_ZONE = ZoneInfo("UTC")
LAST_WEEK = datetime(2026, 11, 10, 9, tzinfo=UTC)  # inside "last-week" for the test clock

# bob (hidden) 4, DealHunter (alice's alias) 3, carol 3 (a tie), dan 2.
COUNTS = {"bob": 4, "alice": 3, "carol": 3, "dan": 2}
PUBLIC_ROWS = (
    ("#1", "(hidden)", "4"),
    ("#2", "DealHunter", "3"),
    ("#2", "carol", "3"),
    ("#4", "dan", "2"),
)


async def _setup(dispatcher: Dispatcher, manager: Chat, database: Database) -> dict[str, Chat]:
    await manager("/program add shop https://shop.example/ 10%")
    chats = {name: Chat(dispatcher, Actor("console", name, name)) for name in COUNTS}
    for name, chat in chats.items():
        await chat("/join shop")
        for minute in range(COUNTS[name]):
            await add_conversion(database, name, "shop", at=LAST_WEEK + timedelta(minutes=minute))
    await chats["alice"]("/settings alias DealHunter")
    await chats["alice"]("/settings visibility alias")
    await chats["bob"]("/settings visibility hidden")
    return chats


async def _board(dispatcher: Dispatcher, actor: Actor) -> list[Reply]:
    return await dispatcher.execute_line("/leaderboard last-week", actor, ChatKind.GROUP)


async def test_a_hidden_affiliate_sees_the_ranks_everyone_sees(
    dispatcher: Dispatcher, manager: Chat, database: Database, clock: Clock
) -> None:
    chats = await _setup(dispatcher, manager, database)
    stranger = Actor("console", "zed", "zed")
    for actor in (chats["bob"].actor, chats["alice"].actor, stranger, manager.actor):
        public = (await _board(dispatcher, actor))[0]
        assert public.table is not None
        assert public.table.rows == PUBLIC_ROWS, actor.user_id
    own = {name: (await _board(dispatcher, chat.actor))[1].text for name, chat in chats.items()}
    assert own["bob"] == (
        "You are #1 of 4 with 4 conversions. "
        "Your name is hidden on the public board (see /settings)."
    )
    assert own["alice"] == "You are #2 of 4 with 3 conversions."
    assert own["carol"] == "You are #2 of 4 with 3 conversions."
    assert own["dan"] == "You are #4 of 4 with 2 conversions."

    for name, rank in (("bob", 1), ("alice", 2), ("carol", 2), ("dan", 4)):
        stats = await chats[name]("/stats last-week")
        assert ("Rank", f"#{rank} of 4 by conversions") in [
            (f.name, f.value) for f in stats.fields
        ]

    report = await manager("/report last-week")
    leaders = next(f.value for f in report.fields if f.name == "Top affiliates (conversions)")
    assert [line.split(" ", 1)[0] for line in leaders.splitlines()] == ["1.", "2.", "2.", "4."]
    assert "bob (hidden on public boards) — 4" in leaders.splitlines()[0]

    # The weekly post and weekly feedback rank the same way, and name nobody hidden.
    span = calendar.period("last-week", clock(), UTC_ZONE)
    async with database.transaction() as store:
        season = await archive_season(store, span, UTC_ZONE, now=clock())
        messages = await feedback_messages(
            store, span, UTC_ZONE, platforms={"console"}, now=clock(), broadcast_key="fb"
        )
    assert [(str(e["rank"]), e["name"]) for e in season.entries] == [
        (rank.lstrip("#"), name) for rank, name, _ in PUBLIC_ROWS
    ]
    feedback_rank = {
        m.target_id: next(
            f.value for f in Reply.from_json(m.payload).fields if f.name == "Rank"
        ).split(" ")[0]
        for m in messages
    }
    assert feedback_rank == {"bob": "#1", "alice": "#2", "carol": "#2", "dan": "#4"}
    # /leaderboard last-week now shows the posted season: still the same ranks for all.
    for actor in (chats["bob"].actor, stranger):
        posted = (await _board(dispatcher, actor))[0]
        assert posted.table is not None
        assert [row[:2] for row in posted.table.rows] == [
            (rank.lstrip("#"), name) for rank, name, _ in PUBLIC_ROWS
        ]
    assert (await _board(dispatcher, chats["bob"].actor))[1].text == (
        "You were #1 with 4 conversions."
    )


async def test_the_leaderboard_export_ranks_like_the_board_and_says_who_is_hidden(
    dispatcher: Dispatcher, manager: Chat, database: Database, clock: Clock
) -> None:
    await _setup(dispatcher, manager, database)
    table = await export_table(
        database, "leaderboard", now=clock(), zone=UTC_ZONE, period="last-week"
    )
    assert [(row[0], row[2], row[6]) for row in table.rows] == [
        ("1", "bob", "(hidden)"),
        ("2", "alice", "DealHunter"),
        ("2", "carol", "carol"),
        ("4", "dan", "dan"),
    ]
