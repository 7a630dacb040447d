"""Digests and alerts name the cap they speak of: a program can have a program-wide and a
personal cap at once (issue 16, bug 13: "shop: the cap is reached" twice)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from commands.broadcasts.feedback import feedback_messages
from commands.core.calendar import period
from commands.core.reply import Reply
from storage import Database
from tests.activity import add_conversions, add_member, add_program
from tests.commands.caps.test_alerts_and_notices import convert, outbox, service
from tests.conftest import Chat, Clock
from tests.tracking_support import seed

UTC_ZONE = ZoneInfo("UTC")


async def test_the_weekly_digest_names_each_reached_cap(
    database: Database, clock: Clock, manager: Chat
) -> None:
    clock.now = datetime(2026, 11, 23, 10, tzinfo=UTC)  # Monday: feedback for week 47
    program = await add_program(database, clock())
    member = await add_member(database, clock(), program, "Alice", user_id="alice")
    await add_conversions(database, member, [datetime(2026, 11, 17, 12, tzinfo=UTC)] * 7)
    await add_conversions(database, member, [datetime(2026, 11, 23, 9, tzinfo=UTC)] * 2)
    await manager("/cap set shop 9 month conversions notify")
    await manager("/cap set shop 2 week conversions pause --per-affiliate")
    span = period("last-week", clock(), UTC_ZONE)
    async with database.transaction() as store:
        (message,) = await feedback_messages(
            store, span, UTC_ZONE, platforms={"console"}, now=clock(), broadcast_key="f"
        )
    fields = {f.name: f.value for f in Reply.from_json(message.payload).fields}
    assert sorted(fields["Cap pacing"].splitlines()) == [
        "shop (2 conversions a week per affiliate): reached",
        "shop (9 conversions a month): reached",
    ]


async def test_alerts_for_two_caps_say_which_cap_is_full(
    database: Database, manager: Chat, clock: Clock
) -> None:
    alice = await seed(database, user="alice", fallback="https://shop.example/full")
    await manager("/cap set shop 1 month conversions fallback")
    await manager("/cap set shop 1 day conversions pause --per-affiliate")
    await convert(database, alice.program, alice.link.code, "A1", clock)
    await service(database, clock).cap_alerts()
    texts = sorted(
        value["reply"].text
        for key, value in (await outbox(database)).items()
        if key.startswith("cap-alert:")
        and value["target"] == "alice"
        and "has reached" in value["reply"].text
    )
    assert len(texts) == 2
    assert texts[0].startswith("Shop has reached its cap of 1 conversion per month (1 of 1")
    assert texts[1].startswith(
        "Shop has reached your personal cap of 1 conversion per day, per affiliate (1 of 1"
    )
