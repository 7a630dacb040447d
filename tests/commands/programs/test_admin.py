"""Program edits, pauses, commission changes, targets and announcements."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.app import announce_targets
from bot.config import load_config
from commands.core import catalog
from commands.core.dispatcher import Dispatcher
from commands.core.invocation import Actor, Services, Settings
from storage import Database
from tests.conftest import BASE_URL, Chat, Clock
from tests.core_seed import console

CHANNELS = (("discord", "555"), ("telegram", "-100123"))


@pytest.fixture
def announcing(database: Database, clock: Clock) -> Dispatcher:
    """A dispatcher whose config has announcement channels on both platforms."""
    services = Services(
        database=database,
        settings=Settings(
            public_base_url=BASE_URL, timezone=ZoneInfo("Europe/Berlin"), announce_targets=CHANNELS
        ),
        clock=clock,
        registry=catalog.load(),
    )
    return Dispatcher(services.registry, services)


@pytest.fixture
def boss(announcing: Dispatcher) -> Chat:
    return Chat(announcing, Actor("console", "boss", "Boss", is_manager=True))


async def queued(database: Database) -> list[tuple[str, str, str]]:
    async with database.read() as store:
        rows = await store.connection.exec_driver_sql(
            "SELECT platform, target_kind, target_id FROM outbox ORDER BY id"
        )
        # tuple(row): SQLAlchemy 2.1 types a row of driver SQL as a 1-tuple.
        return [(row[0], row[1], str(row[2])) for row in map(tuple, rows)]


async def payload(database: Database, index: int = 0) -> dict[str, object]:
    async with database.read() as store:
        keys = await store.connection.exec_driver_sql("SELECT dedupe_key FROM outbox ORDER BY id")
        row = await store.outbox.by_key(list(keys)[index][0])
    assert row is not None
    return dict(row["payload"])


async def test_commission_change_is_kept_and_announced(
    announcing: Dispatcher, boss: Chat, database: Database, clock: Clock
) -> None:
    await boss("/program add shop https://shop.example/ 10%")
    for user in ("ann", "ben"):
        await console(announcing, "/join shop\n", user=user)
    await console(announcing, "/join shop\n", user="cid")
    await boss("/suspend cid")
    before = await queued(database)
    reply = await boss("/commission shop 12.5% 2026-12-01")
    assert reply.title == "Commission for shop changed"
    assert reply.text == "10% of the sale → 12.5% of the sale, effective 2026-12-01."
    assert reply.notes == ("Announced to 2 affiliates (4 messages queued).",)
    new = (await queued(database))[len(before) :]
    assert new == [
        ("console", "user", "ann"),
        ("console", "user", "ben"),
        ("discord", "chat", "555"),
        ("telegram", "chat", "-100123"),
    ]
    announced = await payload(database, len(before))
    assert announced["title"] == "New commission for shop"
    assert announced["visibility"] == "private"
    assert (await payload(database, len(before) + 2))["visibility"] == "public"
    async with database.read() as store:
        program = await store.programs.by_slug("shop")
        assert program is not None
        history = await store.programs.commission_history(program.id)
        audit = (await store.audit.recent(1))[0]
    assert [(c.value, c.effective_from) for c in history] == [
        (1000, clock.now),
        (1250, datetime(2026, 11, 30, 23, 0, tzinfo=UTC)),  # midnight in Berlin
    ]
    assert audit.action == "program.commission"
    assert audit.before is not None
    assert audit.after is not None
    assert (audit.before["value"], audit.after["value"]) == (1000, 1250)
    # The current rate is still 10% until December.
    out = await console(announcing, "/programs\n", user="ann")
    assert "10% of the sale" in out
    flat = await boss("/commission shop 4 USD")
    assert flat.text == "10% of the sale → 4.00 USD per conversion, effective now."


async def test_program_edit_pause_and_resume(
    announcing: Dispatcher, boss: Chat, database: Database
) -> None:
    await boss("/program add shop https://shop.example/ 10%")
    await console(announcing, "/join shop\n", user="ann")
    reply = await boss(
        '/program edit shop --name "Shop Deluxe" --fallback-url https://shop.example/sorry '
        "--window 60 --approval yes --holding-days 7 --min-payout 20"
    )
    assert reply.text == (
        "Changed: name, attribution window, approval, holding days, fallback URL, minimum payout."
    )
    async with database.read() as store:
        program = await store.programs.by_slug("shop")
        audit = (await store.audit.recent(1))[0]
    assert program is not None
    assert (program.name, program.attribution_days, program.approval_required) == (
        "Shop Deluxe",
        60,
        True,
    )
    assert (program.holding_days, program.min_payout_minor) == (7, 2000)
    assert program.fallback_url == "https://shop.example/sorry"
    assert audit.before == {
        "name": "shop",
        "attribution_days": 30,
        "approval_required": False,
        "holding_days": 30,
        "fallback_url": None,
        "min_payout_minor": 0,
    }
    await boss("/program edit shop --fallback-url none --banner https://cdn.example/1.png")
    await boss("/program edit shop --banner https://cdn.example/2.png")
    async with database.read() as store:
        program = await store.programs.by_slug("shop")
    assert program is not None
    assert program.fallback_url is None
    assert program.materials == {
        "banners": ["https://cdn.example/1.png", "https://cdn.example/2.png"]
    }
    await boss("/program edit shop --clear-materials")

    before = len(await queued(database))
    assert (await boss("/program pause shop")).text == "Paused shop; 1 affiliate is told."
    assert (await boss("/program pause shop")).text == "shop is already paused."
    assert "is paused" in (await console(announcing, "/link shop\n", user="ann"))
    assert "There are no open programs yet." in await console(
        announcing, "/programs\n", user="ann"
    )
    assert (await boss("/program resume shop")).text == "Resumed shop; 1 affiliate is told."
    assert len(await queued(database)) == before + 6
    async with database.read() as store:
        actions = [entry.action for entry in await store.audit.recent(2)]
    assert actions == ["program.resume", "program.pause"]


async def test_targets_set_replace_and_remove(
    boss: Chat, announcing: Dispatcher, database: Database
) -> None:
    await boss("/program add shop https://shop.example/ 10%")
    await console(announcing, "/join shop\n", user="ann")
    assert (await boss("/target conversions 20 month")).text == (
        "Target for every affiliate: 20 conversions a month."
    )
    assert (await boss("/target conversions 30 month")).text == (
        "Target for every affiliate: 30 conversions a month."
    )
    assert (await boss("/target conversions +15% month ann")).text == (
        "Target for #1 ann: +15% conversions vs last month."
    )
    assert (await boss("/target revenue 5000 week all --program shop")).text == (
        "Target for every affiliate in shop: 5,000.00 USD revenue a week."
    )
    async with database.read() as store:
        shared = await store.targets.in_force()
        own = await store.targets.in_force(affiliate_id=1)
    assert sorted((t.metric, t.mode, t.value) for t in shared) == [
        ("conversions", "absolute", 30),
        ("revenue", "absolute", 500000),
    ]
    assert sorted((t.metric, t.mode, t.value) for t in own) == [
        ("conversions", "growth", 1500),
        ("revenue", "absolute", 500000),
    ]
    assert (await boss("/target conversions off month")).text == (
        "Removed the conversions target for every affiliate."
    )
    async with database.read() as store:
        audit = await store.audit.recent(1)
    assert audit[0].action == "target.remove"
    assert audit[0].before == {"mode": "absolute", "value": 30, "period": "month"}


async def test_announce_to_channels_and_by_dm(
    announcing: Dispatcher, boss: Chat, database: Database
) -> None:
    await boss("/program add shop https://shop.example/ 10%")
    for user in ("ann", "ben"):
        await console(announcing, "/join shop\n", user=user)
    await boss("/suspend ben")
    start = len(await queued(database))
    text = "Double commission this weekend! <@everyone> *not bold*"
    assert (await boss(f"/announce {text}")).text == "Announcement queued for 2 channels."
    reply = await boss("/announce New banners are in --dm")
    assert reply.text == "Announcement queued for 2 channels and 1 affiliate privately."
    rows = (await queued(database))[start:]
    assert rows == [
        ("discord", "chat", "555"),
        ("telegram", "chat", "-100123"),
        ("discord", "chat", "555"),
        ("telegram", "chat", "-100123"),
        ("console", "user", "ann"),
    ]
    first = await payload(database, start)
    assert first["text"] == text  # stored as typed; each adapter escapes it
    assert (await payload(database, start + 4))["text"] == "New banners are in"


async def test_announce_without_channels_says_nobody_would_hear(
    manager: Chat, database: Database
) -> None:
    reply = await manager("/announce hello")
    assert "nobody would receive this" in reply.text
    assert await queued(database) == []
    async with database.read() as store:
        assert [entry.action for entry in await store.audit.recent()] == []


def test_announce_targets_come_from_both_platforms_config() -> None:
    config = load_config(
        None,
        {
            "AFFBOT_DISCORD__ANNOUNCE_CHANNEL_IDS": "555,556",
            "AFFBOT_TELEGRAM__ANNOUNCE_CHAT_IDS": "-100123",
        },
    )
    assert announce_targets(config) == (
        ("discord", "555"),
        ("discord", "556"),
        ("telegram", "-100123"),
    )
