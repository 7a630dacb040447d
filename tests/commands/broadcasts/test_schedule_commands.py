"""/schedule add|list|remove as a manager types them."""

from __future__ import annotations

from storage import Database
from tests.activity import add_program
from tests.conftest import Chat, Clock


async def test_add_list_remove(manager: Chat, database: Database, clock: Clock) -> None:
    await add_program(database, clock(), "shop")
    added = await manager('/schedule add leaderboard "0 9 * * 1" --timezone Europe/Berlin')
    assert added.text == (
        'Schedule #1 added: leaderboard at "0 9 * * mon" (Europe/Berlin), reporting '
        "last-week. Next: Mon 23 Nov 09:00 Europe/Berlin."
    )
    reminder = await manager(
        '/schedule add announcement "0 12 1 * *" --message "New month: see /programs" '
        "--to telegram:-1001234,discord:42"
    )
    assert reminder.text.startswith('Schedule #2 added: announcement at "0 12 1 * *" (UTC). ')
    await manager('/schedule add report "0 8 * * *" --period today')
    await manager('/schedule add leaderboard "0 9 * * fri" --program shop')
    listing = await manager("/schedule list")
    assert listing.table is not None
    assert listing.table.rows == (
        (
            "1",
            "leaderboard",
            "0 9 * * mon",
            "last-week",
            "default channels",
            "Mon 23 Nov 09:00 Europe/Berlin",
        ),
        (
            "2",
            "announcement",
            "0 12 1 * *",
            "last-week",
            "telegram:-1001234, discord:42",
            "Tue 01 Dec 12:00 UTC",
        ),
        ("3", "report", "0 8 * * *", "today", "managers", "Thu 19 Nov 08:00 UTC"),
        (
            "4",
            "leaderboard",
            "0 9 * * fri",
            "last-week",
            "default channels",
            "Fri 20 Nov 09:00 UTC",
        ),
    )
    removed = await manager("/schedule remove 2")
    assert removed.text == 'Schedule #2 (announcement, "0 12 1 * *") removed.'
    assert (await manager("/schedule remove 2")).text == (
        "There is no active schedule #2. See /schedule list."
    )
    async with database.read() as store:
        schedules = await store.schedules.all()
        audit = await store.audit.recent()
    assert [s.id for s in schedules] == [1, 3, 4]
    assert schedules[2].program_id is not None
    assert [entry.action for entry in audit][:2] == ["schedule.remove", "schedule.add"]


async def test_mistakes_get_a_clear_answer_and_store_nothing(
    manager: Chat, alice: Chat, database: Database
) -> None:
    answers = [
        (await manager('/schedule add leaderboard "0 25 * * *"')).text,
        (await manager("/schedule add leaderboard 0 9 * * mon")).text,
        (await manager('/schedule add announcement "0 9 * * mon"')).text,
        (await manager('/schedule add feedback "0 9 * * mon" --message "hi"')).text,
        (await manager('/schedule add leaderboard "0 9 * * mon" --program nope')).text,
        (await manager('/schedule add leaderboard "0 9 * * mon" --to slack:1')).text,
        (await manager('/schedule add leaderboard "0 9 * * mon" --timezone Mars/Base')).text,
        (await alice('/schedule add leaderboard "0 9 * * mon"')).text,
        (await manager('/schedule add leaderboard "0 9 * *"')).text,
    ]
    assert answers[0].startswith("'0 25 * * *' is not a valid schedule:")
    # Without quotes the cron fields read as extra arguments; the example shows the quotes.
    assert answers[1].startswith("Too many arguments (from '9' on).")
    assert answers[1].endswith('Example: /schedule add leaderboard "0 9 * * mon"')
    assert answers[2].startswith('An announcement needs its text: --message "..."')
    assert answers[3].startswith("--message is only for announcements")
    assert answers[4] == (
        'There is no program called "nope": there are no programs yet; '
        "a manager adds one with /program add."
    )
    assert answers[5].startswith("'slack:1' is not a chat: write platform:id")
    assert answers[6].startswith("'Mars/Base' is not a time zone")
    assert answers[7] == "/schedule add is for program managers only."
    assert answers[8].startswith("A schedule needs 5 fields (minute hour day month weekday)")
    for answer in answers[:7]:
        assert "Usage: /schedule add" in answer or "There is no program" in answer
    async with database.read() as store:
        assert await store.schedules.all() == []
    assert (await manager("/schedule list")).text == "No schedules. Add one with /schedule add."
