"""Issue 16 bug 15: counted words agree with their number, settings and fields read as
people say them, and a reason given by a manager ends its sentence before the next one."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from commands.core import catalog
from commands.core.dispatcher import Dispatcher
from commands.core.invocation import Actor, ChatKind, Services, Settings
from commands.core.reply import Reply
from storage import Database
from tests.conftest import BASE_URL, Chat, Clock
from tests.core_seed import add_conversion


@pytest.fixture
def one_channel(database: Database, clock: Clock) -> Dispatcher:
    """A dispatcher whose config has a single announcement channel."""
    services = Services(
        database=database,
        settings=Settings(
            public_base_url=BASE_URL,
            timezone=ZoneInfo("UTC"),
            announce_targets=(("telegram", "-100123"),),
        ),
        clock=clock,
        registry=catalog.load(),
    )
    return Dispatcher(services.registry, services)


async def last_outbox_text(database: Database) -> str:
    async with database.read() as store:
        keys = await store.connection.exec_driver_sql(
            "SELECT dedupe_key FROM outbox ORDER BY id DESC"
        )
        row = await store.outbox.by_key(next(iter(keys))[0])
    assert row is not None
    return str(Reply.from_json(row["payload"]).text)


async def test_one_affiliate_is_told_not_one_affiliates(
    manager: Chat, alice: Chat, bob: Chat
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await manager("/program add app https://app.example/ 10%")
    await alice("/join shop")
    await alice("/join app")
    await bob("/join app")
    assert (await manager("/program pause shop")).text == "Paused shop; 1 affiliate is told."
    assert (await manager("/program resume shop")).text == "Resumed shop; 1 affiliate is told."
    assert (await manager("/program pause app")).text == "Paused app; 2 affiliates are told."


async def test_announcements_count_one_affiliate_one_message_one_channel(
    one_channel: Dispatcher, database: Database
) -> None:
    boss = Chat(one_channel, Actor("console", "boss", "Boss", is_manager=True))
    await boss("/program add shop https://shop.example/ 10%")
    await Chat(one_channel, Actor("console", "alice", "Alice"))("/join shop")
    commission = await boss("/commission shop 12%")
    assert commission.notes == ("Announced to 1 affiliate (2 messages queued).",)
    cap = await boss("/cap set shop 1 week")
    assert "Announced to 1 affiliate (2 messages queued)." in cap.notes
    announced = await boss("/announce New banners are in --dm")
    assert announced.text == "Announcement queued for 1 channel and 1 affiliate privately."


async def test_a_cap_and_a_target_of_one_read_one_conversion(manager: Chat, alice: Chat) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await alice("/join shop")
    await manager("/cap set shop 1 week")
    listing = await manager("/cap list shop")
    assert listing.table is not None
    assert "1 conversion per week" in str(listing.table.rows)
    programs = await alice("/programs")
    assert programs.table is not None
    (row,) = programs.table.rows
    assert "1 conversion a week" in row
    assert "1 conversions" not in str(row)
    target = await manager("/target conversions 1 week")
    assert target.text == "Target for every affiliate: 1 conversion a week."
    stats = await alice("/stats")
    shown = {field.name: field.value for field in stats.fields}
    assert shown["Targets"] == "0 of 1 conversion a week (0%)"
    assert shown["Caps"] == "shop: 0 of 1 conversion a week (0%)"


async def test_notices_are_now_instant_and_every_setting_reads_as_a_sentence(
    alice: Chat, manager: Chat
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await alice("/join shop")
    answers = {
        "/settings notices instant": "Your commission notices are now instant.",
        "/settings timezone Europe/Berlin": "Your time zone is now Europe/Berlin.",
        "/settings visibility hidden": "Your leaderboard visibility is now hidden.",
        "/settings feedback off": "Your feedback is now off.",
        "/settings alias DealHunter": "Your alias is now DealHunter.",
    }
    for line, expected in answers.items():
        assert (await alice(line)).text == expected


async def test_program_edit_names_fields_as_managers_know_them(manager: Chat) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    reply = await manager("/program edit shop --holding-days 7 --min-payout 50")
    assert reply.text == "Changed: holding days, minimum payout."
    every = await manager(
        "/program edit shop --name Shop2 --destination-url https://shop.example/new "
        "--fallback-url https://shop.example/sorry --window 45 --approval yes "
        "--guidelines Be_nice"
    )
    assert every.text == (
        "Changed: name, destination URL, attribution window, approval, fallback URL, materials."
    )


@pytest.mark.parametrize(
    ("reason", "shown"),
    [
        ("fraud", "Reason: fraud. You can still see"),
        ("coupon sites.", "Reason: coupon sites. You can still see"),
        ("why?!", "Reason: why?! You can still see"),
    ],
)
async def test_a_suspension_reason_ends_its_sentence(
    manager: Chat, alice: Chat, database: Database, reason: str, shown: str
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await alice("/join shop")
    await manager(f"/suspend alice {reason}")
    assert shown in await last_outbox_text(database)


async def test_a_bonus_reason_ends_the_sentence_once(
    manager: Chat, alice: Chat, database: Database
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await alice("/join shop")
    await manager("/reward alice 5 USD great week!")
    assert await last_outbox_text(database) == "You received a bonus of 5.00 USD for great week!"


async def test_your_position_with_one_conversion(
    manager: Chat, alice: Chat, database: Database, clock: Clock
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await alice("/join shop")
    await add_conversion(database, "alice", "shop", at=clock.now - timedelta(hours=1))
    replies = await alice.dispatcher.execute_line("/leaderboard", alice.actor, ChatKind.PRIVATE)
    texts = [reply.text for reply in replies]
    assert "You are #1 of 1 with 1 conversion." in texts


async def test_a_one_day_attribution_window_reads_one_day(manager: Chat) -> None:
    created = await manager("/program add shop https://shop.example/ 10% --window 1")
    assert created.text == "shop: 10% of the sale, attribution window 1 day, open to join."
    listing = await manager("/programs")
    assert listing.table is not None
    assert "1 day" in listing.table.rows[0]
