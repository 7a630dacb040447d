"""Caps (with their history) and the cap events their alert thresholds produce.

A cap is in force from ``effective_from`` until ``ended_at``; setting a new one for the
same program and scope ends the old one, so the table is also the history. Cap events are
unique per (cap, subject, period, threshold): crossing 90 % twice in one month alerts once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import from_row, insert_ignoring_conflicts
from storage.schema import cap_events, caps, programs

CapScope = Literal["program", "affiliate"]
CapMetric = Literal["conversions", "commission"]
CapPeriod = Literal["day", "week", "month", "all"]
CapAction = Literal["notify", "fallback", "pause"]


@dataclass(frozen=True, slots=True)
class NewCap:
    program_id: int
    scope: CapScope
    metric: CapMetric
    period: CapPeriod
    limit_value: int  # conversions, or minor units of the program currency
    action: CapAction
    alert_percents: tuple[int, ...]  # empty: the configured default thresholds
    effective_from: datetime


@dataclass(frozen=True, slots=True)
class Cap:
    id: int
    program_id: int
    scope: CapScope
    metric: CapMetric
    period: CapPeriod
    limit_value: int
    action: CapAction
    alert_percents: tuple[int, ...]
    effective_from: datetime
    ended_at: datetime | None

    @property
    def hard(self) -> bool:
        """Whether reaching the cap stops commission (and reroutes clicks)."""
        return self.action != "notify"


@dataclass(frozen=True, slots=True)
class CapEvent:
    cap_id: int
    program_id: int
    affiliate_id: int | None
    period_key: str
    threshold: int
    usage_value: int
    limit_value: int
    occurred_at: datetime
    notified_at: datetime | None = None


class CapRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def set(self, new: NewCap, *, actor: str | None) -> tuple[Cap | None, Cap]:
        """End the cap in force for this program and scope (if any) and start ``new``.

        Returns:
            The cap that was replaced (or ``None``) and the new one.
        """
        previous = await self.end(new.program_id, new.scope, at=new.effective_from)
        result = await self._connection.execute(
            caps.insert().values(
                program_id=new.program_id,
                scope=new.scope,
                metric=new.metric,
                period=new.period,
                limit_value=new.limit_value,
                action=new.action,
                alert_percents=list(new.alert_percents),
                effective_from=new.effective_from,
                created_by=actor,
            )
        )
        cap_id = result.inserted_primary_key[0]  # type: ignore[index]
        row = (await self._connection.execute(select(caps).where(caps.c.id == cap_id))).one()
        return previous, from_row(Cap, row)

    async def end(self, program_id: int, scope: CapScope, *, at: datetime) -> Cap | None:
        """End the cap in force for this program and scope; returns it, or ``None``."""
        current = [cap for cap in await self.active(program_id) if cap.scope == scope]
        if not current:
            return None
        await self._connection.execute(
            update(caps).where(caps.c.id.in_([cap.id for cap in current])).values(ended_at=at)
        )
        return current[0]

    async def active(self, program_id: int) -> list[Cap]:
        """The caps in force for a program (at most one per scope)."""
        rows = await self._connection.execute(
            select(caps)
            .where(caps.c.program_id == program_id)
            .where(caps.c.ended_at.is_(None))
            .order_by(caps.c.scope, caps.c.id)
        )
        return [from_row(Cap, row) for row in rows]

    async def lock_program(self, program_id: int) -> None:
        """Serialise cap decisions for one program until the transaction ends.

        PostgreSQL takes a row lock; SQLite needs none (a writing transaction already holds
        the database's single write lock).
        """
        if self._connection.dialect.name != "postgresql":
            return
        await self._connection.execute(
            select(programs.c.id).where(programs.c.id == program_id).with_for_update()
        )

    async def record_event(self, event: CapEvent) -> bool:
        """Record that a threshold was crossed; ``False`` if this one was recorded before."""
        statement = (
            insert_ignoring_conflicts(self._connection, cap_events)
            .values(
                cap_id=event.cap_id,
                program_id=event.program_id,
                affiliate_id=event.affiliate_id,
                subject_key=_subject(event.affiliate_id),
                period_key=event.period_key,
                threshold=event.threshold,
                usage_value=event.usage_value,
                limit_value=event.limit_value,
                occurred_at=event.occurred_at,
            )
            .returning(cap_events.c.id)
        )
        return (await self._connection.execute(statement)).first() is not None

    async def events(self, *, program_id: int | None = None) -> list[CapEvent]:
        """Recorded cap events, oldest first."""
        query = select(cap_events).order_by(cap_events.c.id)
        if program_id is not None:
            query = query.where(cap_events.c.program_id == program_id)
        return [from_row(CapEvent, row) for row in await self._connection.execute(query)]

    async def unnotified_events(self, limit: int = 100) -> list[tuple[int, CapEvent]]:
        """Events no alert has been queued for yet, with their ids (for the delivery side)."""
        rows = await self._connection.execute(
            select(cap_events)
            .where(cap_events.c.notified_at.is_(None))
            .order_by(cap_events.c.id)
            .limit(limit)
        )
        return [(row.id, from_row(CapEvent, row)) for row in rows]

    async def mark_notified(self, event_ids: list[int], *, now: datetime) -> None:
        await self._connection.execute(
            update(cap_events).where(cap_events.c.id.in_(event_ids)).values(notified_at=now)
        )


def _subject(affiliate_id: int | None) -> str:
    return "program" if affiliate_id is None else f"affiliate:{affiliate_id}"
