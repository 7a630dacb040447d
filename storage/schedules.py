"""Schedules and their runs: the database, not APScheduler, is the source of truth.

A schedule fires at most once per due time: ``claim_run`` inserts the (schedule, period)
row with ``ON CONFLICT DO NOTHING`` inside the transaction that queues the schedule's
messages, so a double fire, a catch-up after a restart or a second process sharing
PostgreSQL finds the run taken and queues nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Row, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import from_row, insert_ignoring_conflicts
from storage.schema import schedule_runs, schedules

ScheduleKind = Literal["leaderboard", "feedback", "report", "announcement"]


@dataclass(frozen=True, slots=True)
class ScheduleTarget:
    """A chat a schedule posts to (``telegram``, ``-1001234``)."""

    platform: str
    chat_id: str

    @property
    def label(self) -> str:
        return f"{self.platform}:{self.chat_id}"


@dataclass(frozen=True, slots=True)
class NewSchedule:
    """``targets`` empty means the configured announcement channels (resolved when firing)."""

    kind: ScheduleKind
    cron: str
    timezone: str
    period: str = "last-week"
    targets: tuple[ScheduleTarget, ...] = ()
    program_id: int | None = None
    message: str | None = None
    created_by: str | None = None


@dataclass(frozen=True, slots=True)
class Schedule:
    id: int
    kind: ScheduleKind
    cron: str
    timezone: str
    period: str
    targets: tuple[ScheduleTarget, ...]
    program_id: int | None
    message: str | None
    enabled: bool
    created_by: str | None
    created_at: datetime


class ScheduleRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, schedule: NewSchedule, *, now: datetime) -> Schedule:
        """Store a new, enabled schedule and return it."""
        result = await self._connection.execute(
            schedules.insert().values(
                kind=schedule.kind,
                cron=schedule.cron,
                timezone=schedule.timezone,
                period=schedule.period,
                targets=[[t.platform, t.chat_id] for t in schedule.targets],
                program_id=schedule.program_id,
                message=schedule.message,
                enabled=True,
                created_by=schedule.created_by,
                created_at=now,
            )
        )
        found = await self.get(result.inserted_primary_key[0])  # type: ignore[index]
        if found is None:  # pragma: no cover - inserted above
            raise RuntimeError("schedule vanished inside its own transaction")
        return found

    async def get(self, schedule_id: int) -> Schedule | None:
        row = (
            await self._connection.execute(select(schedules).where(schedules.c.id == schedule_id))
        ).first()
        return _schedule(row) if row else None

    async def all(self, *, enabled_only: bool = True) -> list[Schedule]:
        statement = select(schedules).order_by(schedules.c.id)
        if enabled_only:
            statement = statement.where(schedules.c.enabled.is_(True))
        return [_schedule(row) for row in await self._connection.execute(statement)]

    async def disable(self, schedule_id: int) -> bool:
        """Stop a schedule; its rows and run history stay (defaults are not re-created).

        Returns whether an enabled schedule was found.
        """
        result = await self._connection.execute(
            update(schedules)
            .where(schedules.c.id == schedule_id)
            .where(schedules.c.enabled.is_(True))
            .values(enabled=False)
        )
        return bool(result.rowcount)

    async def ensure(self, schedule: NewSchedule, *, now: datetime) -> Schedule | None:
        """Create ``schedule`` unless one with the same ``created_by`` marker ever existed.

        Used for the defaults from config: a default a manager removed stays removed.
        Returns the new schedule, or ``None`` when it was already there.
        """
        existing = await self._connection.execute(
            select(func.count()).where(schedules.c.created_by == schedule.created_by)
        )
        if existing.scalar_one():
            return None
        return await self.add(schedule, now=now)

    async def claim_run(self, schedule_id: int, period_key: str, *, now: datetime) -> bool:
        """Record the run of ``schedule_id`` for ``period_key``; false if it already ran.

        Call it first in the transaction that queues the run's messages: the unique key
        settles concurrent fires in the database (the loser's insert does nothing).
        """
        result = await self._connection.execute(
            insert_ignoring_conflicts(self._connection, schedule_runs)
            .values(schedule_id=schedule_id, period_key=period_key, fired_at=now)
            .returning(schedule_runs.c.id)
        )
        return result.first() is not None

    async def runs(self, schedule_id: int) -> list[tuple[str, datetime]]:
        """(period key, fired at) of every run, oldest first."""
        rows = await self._connection.execute(
            select(schedule_runs.c.period_key, schedule_runs.c.fired_at)
            .where(schedule_runs.c.schedule_id == schedule_id)
            .order_by(schedule_runs.c.id)
        )
        return [(row.period_key, row.fired_at) for row in rows]


def _schedule(row: Row[*tuple[Any, ...]]) -> Schedule:
    # Targets are stored as JSON [platform, chat id] pairs.
    targets = tuple(ScheduleTarget(str(p), str(c)) for p, c in row.targets or [])
    return from_row(Schedule, row, targets=targets)
