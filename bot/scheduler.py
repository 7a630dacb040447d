"""Schedules: APScheduler fires them, the database decides whether a firing runs.

Schedules are rows (``storage.schedules``); APScheduler only holds in-memory cron jobs
built from them (``AsyncIOScheduler``, ``CronTrigger`` in each schedule's time zone) and
is re-synced from the table every ``reload_seconds``, so ``/schedule add`` takes effect
without a restart. A firing computes the due time it stands for and hands it to
``commands.broadcasts.schedule_runs.run_schedule``, which claims the (schedule, due time)
run before queuing anything. So a firing that happens twice, on two processes, or again as a
catch-up after a restart queues its messages once.

Catch-up: at start-up (and at every re-sync) a schedule whose latest due time lies within
the grace period and has no run record is run once. APScheduler's own misfire handling is
not relied on: it only knows about downtime of a process that kept its job store.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import Config
from commands.broadcasts import cron
from commands.broadcasts.schedule_runs import Audiences, run_schedule
from commands.caps.alerts import queue_cap_alerts
from commands.fraud.inactive import check_inactive_referrals
from commands.fraud.rules import FraudRules
from commands.tracking.notices import queue_digests
from storage import Database
from storage.schedules import NewSchedule, Schedule, ScheduleKind, ScheduleTarget

log = logging.getLogger(__name__)

_T = TypeVar("_T")
STOP_WAIT_SECONDS = 15.0  # for a running job (a weekly post) to finish at shutdown


def utc_now() -> datetime:
    return datetime.now(UTC)


def latest_due(line: str, timezone: str, now: datetime, *, within: timedelta) -> datetime | None:
    """The last time the schedule was due in ``(now - within, now]``, or ``None``.

    Walks the trigger forward from the start of the window, so DST gaps and repeats are
    handled by the trigger exactly as for live firings.
    """
    trigger = cron.trigger(line, timezone)
    start = now - within
    found: datetime | None = None  # in UTC: aware times in one zone compare by wall clock
    previous: datetime | None = None
    probe = start
    while probe <= now:
        fired = trigger.get_next_fire_time(previous, probe)
        if fired is None or fired > now:
            break
        moment = fired.astimezone(UTC)
        if found is not None and moment <= found:
            # APScheduler 3 can answer the same time again around a DST change when asked
            # for the one after it; step past it.
            probe += timedelta(minutes=1)
            continue
        if moment > start:
            found = moment
        previous = fired
        probe = moment + timedelta(seconds=1)
    return found


def audiences_from_config(
    config: Config, platforms: frozenset[str], *, console_user: str | None = None
) -> Audiences:
    """Announcement channels and manager accounts from config, for running platforms.

    In the console, posts and reports appear in the console itself (chat
    ``announcements``, and the console operator when they are a manager).
    """
    channels = [ScheduleTarget("discord", str(c)) for c in config.discord.announce_channel_ids]
    channels += [ScheduleTarget("telegram", str(c)) for c in config.telegram.announce_chat_ids]
    managers = [("telegram", str(u)) for u in config.telegram.manager_user_ids]
    managers += [("discord", str(u)) for u in config.discord.manager_user_ids]
    if console_user is not None:
        channels.append(ScheduleTarget("console", "announcements"))
        if config.console.manager:
            managers.append(("console", console_user))
    return Audiences(channels=tuple(channels), managers=tuple(managers), platforms=platforms)


def default_schedules(config: Config) -> tuple[NewSchedule, ...]:
    """The weekly leaderboard and feedback schedules config asks for (empty cron: none)."""
    wanted: tuple[tuple[ScheduleKind, str], ...] = (
        ("leaderboard", config.schedules.leaderboard_cron),
        ("feedback", config.schedules.feedback_cron),
    )
    return tuple(
        NewSchedule(
            kind=kind,
            cron=line,
            timezone=config.timezone,
            period=config.schedules.period,
            created_by=f"config:default-{kind}",
        )
        for kind, line in wanted
        if line
    )


class ScheduleService:
    """Owns the APScheduler instance and runs due schedules; ``start``/``stop`` pair."""

    def __init__(
        self,
        database: Database,
        audiences: Audiences,
        *,
        grace: timedelta = timedelta(hours=24),
        reload_seconds: float = 60.0,
        clock: Callable[[], datetime] = utc_now,
        on_queued: Callable[[], None] | None = None,
        cap_alert_seconds: float = 5.0,
        digest_cron: str = "",
        timezone: str = "UTC",
        fraud: FraudRules | None = None,
        referral_check_seconds: float = 300.0,
    ) -> None:
        self.database = database
        self.audiences = audiences
        self.grace = grace
        self.reload_seconds = reload_seconds
        self.cap_alert_seconds = cap_alert_seconds
        self.digest_cron = digest_cron
        self.timezone = timezone
        self.fraud = fraud
        self.referral_check_seconds = referral_check_seconds
        self._clock = clock
        self._on_queued = on_queued
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self._jobs: dict[int, tuple[str, str]] = {}
        self._running: set[asyncio.Task[Any]] = set()

    async def start(self, defaults: tuple[NewSchedule, ...] = ()) -> None:
        """Create missing default schedules, register every job, and catch up."""
        if defaults:
            async with self.database.transaction() as store:
                for default in defaults:
                    created = await store.schedules.ensure(default, now=self._clock())
                    if created is not None:
                        log.info("created default %s schedule (%s)", created.kind, created.cron)
        self.scheduler.start()
        self.scheduler.add_job(
            self._tracked(self.sync),
            "interval",
            seconds=self.reload_seconds,
            id="schedules-sync",
            coalesce=True,
            max_instances=1,
        )
        self.scheduler.add_job(
            self._tracked(self.cap_alerts),
            "interval",
            seconds=self.cap_alert_seconds,
            id="cap-alerts",
            coalesce=True,
            max_instances=1,
        )
        if self.fraud is not None and self.fraud.enabled:
            self.scheduler.add_job(
                self._tracked(self.inactive_referrals),
                "interval",
                seconds=self.referral_check_seconds,
                id="inactive-referrals",
                coalesce=True,
                max_instances=1,
            )
        if self.digest_cron:
            self.scheduler.add_job(
                self._tracked(self.digest),
                cron.trigger(self.digest_cron, self.timezone),
                id="commission-digest",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=int(self.grace.total_seconds()),
            )
        await self.sync()
        await self.cap_alerts()

    async def cap_alerts(self) -> int:
        """Turn new cap events into alerts (the job behind "cap alerts in real time")."""
        managers = [m for m in self.audiences.managers if m[0] in self.audiences.platforms]
        try:
            async with self.database.transaction() as store:
                queued = await queue_cap_alerts(store, managers, now=self._clock())
        except Exception:
            log.exception("could not queue cap alerts")
            return 0
        if queued and self._on_queued is not None:
            self._on_queued()
        return queued

    async def inactive_referrals(self) -> int:
        """Decide signup referrals that just reached ``referral_inactive_days`` and flag
        codes whose referred accounts mostly never came back; returns flags raised."""
        if self.fraud is None:
            return 0
        try:
            async with self.database.transaction() as store:
                raised = await check_inactive_referrals(store, self.fraud, now=self._clock())
        except Exception:
            log.exception("could not check signup referrals for inactive accounts")
            return 0
        if raised and self._on_queued is not None:
            self._on_queued()
        return len(raised)

    async def digest(self) -> int:
        """Queue the daily commission digests for the day before the latest due time.

        Runs on its cron and at every sync (to catch up after downtime); the dedupe key
        names the day, so repeats queue nothing.
        """
        if not self.digest_cron:
            return 0
        now = self._clock()
        due = latest_due(self.digest_cron, self.timezone, now, within=self.grace)
        if due is None:
            return 0
        zone = ZoneInfo(self.timezone)
        day = due.astimezone(zone).date() - timedelta(days=1)
        try:
            async with self.database.transaction() as store:
                queued = await queue_digests(store, day, zone, now=now)
        except Exception:
            log.exception("could not queue the commission digest of %s", day)
            return 0
        if queued:
            log.info("commission digest of %s: %d messages queued", day, queued)
            if self._on_queued is not None:
                self._on_queued()
        return queued

    async def stop(self) -> None:
        """Fire nothing new, let a job that is running finish (APScheduler would cancel
        it mid-transaction and log the cancellation as a crash), then shut down."""
        if not self.scheduler.running:
            return
        self.scheduler.pause()
        if self._running:
            _, late = await asyncio.wait(set(self._running), timeout=STOP_WAIT_SECONDS)
            if late:
                log.warning("%d scheduled jobs still running at shutdown", len(late))
        self.scheduler.shutdown(wait=False)

    def _tracked(
        self, job: Callable[..., Awaitable[_T]]
    ) -> Callable[..., Coroutine[Any, Any, _T]]:
        """The job, remembered while it runs so that ``stop`` can wait for it."""

        @functools.wraps(job)
        async def run(*args: Any, **kwargs: Any) -> _T:
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            try:
                return await job(*args, **kwargs)
            finally:
                if task is not None:
                    self._running.discard(task)

        return run

    async def sync(self) -> None:
        """Match the jobs to the table, then run whatever is due and not yet run."""
        async with self.database.read() as store:
            schedules = await store.schedules.all()
        wanted = {s.id: s for s in schedules}
        for schedule_id in set(self._jobs) - set(wanted):
            self.scheduler.remove_job(f"schedule-{schedule_id}")
            del self._jobs[schedule_id]
        for schedule in schedules:
            shape = (schedule.cron, schedule.timezone)
            if self._jobs.get(schedule.id) == shape:
                continue
            try:
                trigger = cron.trigger(schedule.cron, schedule.timezone)
            except ValueError:
                log.exception(
                    "schedule %d has an invalid cron line %r", schedule.id, schedule.cron
                )
                continue
            self.scheduler.add_job(
                self._tracked(self.fire),
                trigger,
                args=[schedule.id],
                id=f"schedule-{schedule.id}",
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=int(self.grace.total_seconds()),
            )
            self._jobs[schedule.id] = shape
        for schedule in schedules:
            await self._run_if_due(schedule)
        await self.digest()

    def next_run(self, schedule_id: int) -> datetime | None:
        """When APScheduler will next fire this schedule (for status and tests)."""
        job = self.scheduler.get_job(f"schedule-{schedule_id}")
        return None if job is None else job.next_run_time

    async def fire(self, schedule_id: int) -> int | None:
        """The APScheduler job: run the schedule's latest due time if not run yet."""
        async with self.database.read() as store:
            schedule = await store.schedules.get(schedule_id)
        if schedule is None or not schedule.enabled:
            return None
        return await self._run_if_due(schedule)

    async def _run_if_due(self, schedule: Schedule) -> int | None:
        now = self._clock()
        try:
            due = latest_due(schedule.cron, schedule.timezone, now, within=self.grace)
        except ValueError:
            return None
        # A schedule never runs a slot from before it existed, not even one a few seconds
        # earlier (a schedule added at 09:00:30 first posts at the next 09:00). Catch-up
        # after downtime is unaffected: those slots come after the schedule's creation.
        if due is None or due < schedule.created_at:
            return None
        try:
            async with self.database.transaction() as store:
                queued = await run_schedule(store, schedule, due, self.audiences, now=now)
        except Exception:
            log.exception("schedule %d (%s) failed to run", schedule.id, schedule.kind)
            return None
        if queued and self._on_queued is not None:
            self._on_queued()
        return queued
