"""Schedules firing: once per due time, catch-up after downtime, time zones and DST."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.config import load_config
from bot.scheduler import ScheduleService, audiences_from_config, default_schedules, latest_due
from commands.broadcasts.schedule_runs import Audiences
from commands.core.reply import Reply
from storage import Database
from storage.schedules import NewSchedule, ScheduleTarget
from storage.schema import outbox
from tests.activity import add_conversions, add_member, add_program
from tests.conftest import Clock

BERLIN = "Europe/Berlin"
CHANNELS = Audiences(
    channels=(ScheduleTarget("telegram", "-100"), ScheduleTarget("discord", "7")),
    managers=(("telegram", "1"),),
    platforms=frozenset({"telegram", "discord", "console"}),
)


@pytest.fixture
async def service(database: Database, clock: Clock) -> AsyncIterator[ScheduleService]:
    running = ScheduleService(database, CHANNELS, clock=clock)
    yield running
    await running.stop()


async def add_schedule(
    database: Database, created: datetime, kind: str = "leaderboard", **extra: object
) -> int:
    values: dict[str, object] = {"kind": kind, "cron": "0 9 * * mon", "timezone": BERLIN}
    values.update(extra)
    async with database.transaction() as store:
        schedule = await store.schedules.add(NewSchedule(**values), now=created)  # type: ignore[arg-type]
    return schedule.id


async def outbox_keys(database: Database) -> list[str]:
    async with database.read() as store:
        result = await store.connection.execute(select(outbox.c.dedupe_key).order_by(outbox.c.id))
        return list(result.scalars())


def test_due_times_follow_the_zone_across_dst() -> None:
    # Monday 09:00 in Berlin is 07:00 UTC in summer time and 08:00 UTC in winter time.
    summer = latest_due(
        "0 9 * * mon", BERLIN, datetime(2026, 10, 19, 7, 30, tzinfo=UTC), within=timedelta(days=1)
    )
    winter = latest_due(
        "0 9 * * mon", BERLIN, datetime(2026, 10, 26, 8, 30, tzinfo=UTC), within=timedelta(days=1)
    )
    assert summer == datetime(2026, 10, 19, 7, 0, tzinfo=UTC)
    assert winter == datetime(2026, 10, 26, 8, 0, tzinfo=UTC)
    # Not due yet at 07:30 UTC on the winter Monday (08:30 in Berlin).
    assert (
        latest_due(
            "0 9 * * mon",
            BERLIN,
            datetime(2026, 10, 26, 7, 30, tzinfo=UTC),
            within=timedelta(days=1),
        )
        is None
    )


async def test_fires_once_per_due_time_even_when_fired_twice(
    database: Database, clock: Clock, service: ScheduleService
) -> None:
    program = await add_program(database, clock())
    ann = await add_member(database, clock(), program, "Ann")
    await add_conversions(database, ann, [datetime(2026, 11, 17, 10, tzinfo=UTC)])
    schedule_id = await add_schedule(database, clock())
    clock.now = datetime(2026, 11, 23, 8, 0, 5, tzinfo=UTC)  # Monday 09:00:05 in Berlin
    assert await service.fire(schedule_id) == 2
    assert await service.fire(schedule_id) is None
    other = ScheduleService(database, CHANNELS, clock=clock)
    assert await other.fire(schedule_id) is None
    assert await outbox_keys(database) == [
        # Ann's week also earns her a badge, told privately once (rewards).
        "badge:1:top-3-of-a-week:console:user:ann",
        "leaderboard:2026-W47:all:telegram:-100",
        "leaderboard:2026-W47:all:discord:7",
    ]
    async with database.read() as store:
        assert [key for key, _ in await store.schedules.runs(schedule_id)] == ["2026-11-23T09:00"]
        row = await store.outbox.by_key("leaderboard:2026-W47:all:telegram:-100")
    assert row is not None
    assert row["broadcast_key"] == f"schedule:{schedule_id}:2026-11-23T09:00"
    reply = Reply.from_json(row["payload"])
    assert reply.table is not None
    assert reply.table.rows[0][1] == "Ann"


async def test_concurrent_fires_queue_once(database: Database, clock: Clock) -> None:
    schedule_id = await add_schedule(database, clock(), "announcement", message="Share!")
    clock.now = datetime(2026, 11, 23, 8, 0, 1, tzinfo=UTC)
    services = [ScheduleService(database, CHANNELS, clock=clock) for _ in range(4)]
    results = await asyncio.gather(*(s.fire(schedule_id) for s in services))
    assert sorted(results, key=str) == [2, None, None, None]
    assert await outbox_keys(database) == [
        f"announcement:{schedule_id}:2026-11-23T09:00:telegram:-100",
        f"announcement:{schedule_id}:2026-11-23T09:00:discord:7",
    ]


async def test_catch_up_after_downtime_within_the_grace_only(
    database: Database, clock: Clock
) -> None:
    schedule_id = await add_schedule(database, clock(), "announcement", message="Hi")
    # Down over Monday 09:00; back at 15:00 the same day: the post is caught up once.
    clock.now = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    first = ScheduleService(database, CHANNELS, clock=clock)
    await first.start()
    await first.stop()
    assert len(await outbox_keys(database)) == 2
    second = ScheduleService(database, CHANNELS, clock=clock)
    await second.start()
    await second.stop()
    assert len(await outbox_keys(database)) == 2
    # Down for the whole next Monday and back more than 24 hours late: nothing is sent.
    clock.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    late = ScheduleService(database, CHANNELS, clock=clock)
    await late.start()
    await late.stop()
    assert len(await outbox_keys(database)) == 2
    async with database.read() as store:
        assert len(await store.schedules.runs(schedule_id)) == 1


async def test_a_new_schedule_does_not_catch_up_times_before_it_existed(
    database: Database, clock: Clock, service: ScheduleService
) -> None:
    clock.now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # three hours after Monday 09:00
    await add_schedule(database, clock(), "announcement", message="Hi")
    await service.start()
    assert await outbox_keys(database) == []


async def test_a_schedule_added_just_after_a_slot_waits_for_the_next_one(
    database: Database, clock: Clock, service: ScheduleService
) -> None:
    """Issue 16, bug 9: a schedule added 30 s after Monday 09:00 posted that 09:00 slot."""
    clock.now = datetime(2026, 11, 23, 8, 0, 30, tzinfo=UTC)  # Monday 09:00:30 in Berlin
    schedule_id = await add_schedule(database, clock(), "announcement", message="Hi")
    await service.start()
    clock.advance(seconds=10)
    assert await service.fire(schedule_id) is None
    await service.sync()
    assert await outbox_keys(database) == []
    # Created one second before a slot: that slot is its first post, and a restart after
    # downtime over the next slot still catches it up once.
    clock.now = datetime(2026, 11, 30, 7, 59, 59, tzinfo=UTC)
    other = await add_schedule(database, clock(), "announcement", message="Yo")
    clock.now = datetime(2026, 11, 30, 8, 0, 1, tzinfo=UTC)
    assert await service.fire(other) == 2
    clock.now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # down over the next Monday 09:00
    later = ScheduleService(database, CHANNELS, clock=clock)
    await later.start()
    await later.stop()
    async with database.read() as store:
        assert [key for key, _ in await store.schedules.runs(schedule_id)] == ["2026-12-07T09:00"]
        assert [key for key, _ in await store.schedules.runs(other)] == [
            "2026-11-30T09:00",
            "2026-12-07T09:00",
        ]


async def test_apscheduler_job_fires_in_the_schedule_zone(
    database: Database, clock: Clock, service: ScheduleService
) -> None:
    clock.now = datetime(2026, 10, 21, 12, 0, tzinfo=UTC)
    schedule_id = await add_schedule(database, clock(), "announcement", message="Hi")
    await service.start()
    # APScheduler runs on the real clock: its next run is some Monday 09:00 in Berlin.
    next_run = service.next_run(schedule_id)
    assert next_run is not None
    local = next_run.astimezone(ZoneInfo(BERLIN))
    assert (local.weekday(), local.hour, local.minute) == (0, 9, 0)
    job = service.scheduler.get_job(f"schedule-{schedule_id}")
    assert job is not None
    # From the frozen Wednesday before the end of summer time: Monday 26 October 09:00
    # CET, which is 08:00 UTC (the Monday before was 07:00 UTC).
    upcoming = job.trigger.get_next_fire_time(None, clock())
    assert upcoming.astimezone(UTC) == datetime(2026, 10, 26, 8, 0, tzinfo=UTC)
    clock.now = datetime(2026, 10, 26, 8, 0, 2, tzinfo=UTC)
    assert await job.func(*job.args) == 2  # the job APScheduler would run
    # A removed schedule's job goes away on the next sync.
    async with database.transaction() as store:
        assert await store.schedules.disable(schedule_id)
    await service.sync()
    assert service.next_run(schedule_id) is None


async def test_repeated_hour_at_dst_end_runs_once(
    database: Database, clock: Clock, service: ScheduleService
) -> None:
    schedule_id = await add_schedule(
        database, datetime(2026, 10, 1, tzinfo=UTC), "announcement", cron="30 2 * * *", message="x"
    )
    # 02:30 happens twice in Berlin on 25 October 2026: at 00:30 and 01:30 UTC.
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert latest_due("30 2 * * *", BERLIN, second, within=timedelta(hours=2)) == second
    clock.now = datetime(2026, 10, 25, 0, 30, 1, tzinfo=UTC)
    assert await service.fire(schedule_id) == 2
    clock.now = datetime(2026, 10, 25, 1, 30, 1, tzinfo=UTC)
    assert await service.fire(schedule_id) is None
    async with database.read() as store:
        assert [key for key, _ in await store.schedules.runs(schedule_id)] == ["2026-10-25T02:30"]


async def test_feedback_and_report_schedules(database: Database, clock: Clock) -> None:
    program = await add_program(database, clock())
    await add_member(database, clock(), program, "Ann", platform="telegram", user_id="42")
    await add_member(database, clock(), program, "Ben", platform="discord", user_id="43")
    feedback = await add_schedule(database, clock(), "feedback")
    report = await add_schedule(database, clock(), "report")
    clock.now = datetime(2026, 11, 23, 8, 0, 1, tzinfo=UTC)
    service = ScheduleService(database, CHANNELS, clock=clock)
    assert await service.fire(feedback) == 2
    assert await service.fire(report) == 1
    keys = await outbox_keys(database)
    assert keys[:2] == [
        "feedback:2026-W47:affiliate-1:telegram",
        "feedback:2026-W47:affiliate-2:discord",
    ]
    assert keys[2] == f"report:{report}:2026-11-23T09:00:telegram:1"


async def test_default_schedules_are_created_once_from_config(
    database: Database, clock: Clock
) -> None:
    config = load_config(
        environ={"AFFBOT_TIMEZONE": BERLIN, "AFFBOT_SCHEDULES__FEEDBACK_CRON": "0 10 * * 1"}
    )
    defaults = default_schedules(config)
    assert [(d.kind, d.cron, d.timezone) for d in defaults] == [
        ("leaderboard", "0 9 * * mon", BERLIN),
        ("feedback", "0 10 * * mon", BERLIN),
    ]
    first = ScheduleService(database, CHANNELS, clock=clock)
    await first.start(defaults)
    await first.stop()
    async with database.transaction() as store:
        schedules = await store.schedules.all()
        assert [s.kind for s in schedules] == ["leaderboard", "feedback"]
        await store.schedules.disable(schedules[0].id)
    second = ScheduleService(database, CHANNELS, clock=clock)
    await second.start(defaults)
    await second.stop()
    async with database.read() as store:
        assert [s.kind for s in await store.schedules.all()] == ["feedback"]
    none = load_config(environ={"AFFBOT_SCHEDULES__LEADERBOARD_CRON": ""})
    assert [d.kind for d in default_schedules(none)] == ["feedback"]


def test_audiences_come_from_config() -> None:
    config = load_config(
        environ={
            "AFFBOT_TELEGRAM__ANNOUNCE_CHAT_IDS": "-1001,-1002",
            "AFFBOT_DISCORD__ANNOUNCE_CHANNEL_IDS": "55",
            "AFFBOT_TELEGRAM__MANAGER_USER_IDS": "9",
        }
    )
    audiences = audiences_from_config(config, frozenset({"telegram"}), console_user="you")
    assert [t.label for t in audiences.channels] == [
        "discord:55",
        "telegram:-1001",
        "telegram:-1002",
        "console:announcements",
    ]
    assert audiences.managers == (("telegram", "9"), ("console", "you"))
    assert audiences.platforms == frozenset({"telegram"})


async def test_stop_lets_a_running_job_finish_instead_of_cancelling_it(
    database: Database, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """APScheduler cancels running jobs at shutdown and logs that as a crash, mid-way
    through a transaction; stopping waits for the job instead."""
    service = ScheduleService(database, CHANNELS, clock=clock, reload_seconds=3600)
    await service.start()
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[str] = []

    async def slow_job() -> None:
        started.set()
        await release.wait()
        finished.append("done")

    service.scheduler.add_job(service._tracked(slow_job), id="slow")  # runs now
    await asyncio.wait_for(started.wait(), timeout=5)
    stopping = asyncio.create_task(service.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # waiting for the job
    release.set()
    await asyncio.wait_for(stopping, timeout=5)
    assert finished == ["done"]
    assert not service.scheduler.running
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
