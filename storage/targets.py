"""KPI targets: a goal per metric and period, for one affiliate or for everyone.

Setting a target ends the one it replaces (``ended_at``) instead of overwriting it, so the
history of goals stays readable next to the numbers they were measured against.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import from_row
from storage.schema import targets

TargetMode = Literal["absolute", "growth"]


@dataclass(frozen=True, slots=True)
class Target:
    """``value`` is a count, minor units of the program's currency, or basis points of
    growth over the previous period (``mode == "growth"``)."""

    id: int
    program_id: int | None
    affiliate_id: int | None
    metric: str
    mode: TargetMode
    value: int
    period: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewTarget:
    program_id: int | None
    affiliate_id: int | None
    metric: str
    mode: TargetMode
    value: int
    period: str


class TargetRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def replace(
        self,
        program_id: int | None,
        affiliate_id: int | None,
        metric: str,
        new: NewTarget | None,
        *,
        now: datetime,
        actor: str,
    ) -> Target | None:
        """End the target in force for (program, affiliate, metric) and start ``new``.

        ``new=None`` only ends it. Returns the target that was ended, if any.
        """
        ended = await self._current(program_id, affiliate_id, metric)
        if ended is not None:
            await self._connection.execute(
                update(targets).where(targets.c.id == ended.id).values(ended_at=now)
            )
        if new is not None:
            await self._connection.execute(
                targets.insert().values(
                    program_id=new.program_id,
                    affiliate_id=new.affiliate_id,
                    metric=new.metric,
                    mode=new.mode,
                    value=new.value,
                    period=new.period,
                    created_by=actor,
                    created_at=now,
                )
            )
        return ended

    async def _current(
        self, program_id: int | None, affiliate_id: int | None, metric: str
    ) -> Target | None:
        query = (
            select(targets)
            .where(targets.c.ended_at.is_(None))
            .where(targets.c.metric == metric)
            .where(
                targets.c.program_id.is_(None)
                if program_id is None
                else targets.c.program_id == program_id
            )
            .where(
                targets.c.affiliate_id.is_(None)
                if affiliate_id is None
                else targets.c.affiliate_id == affiliate_id
            )
        )
        row = (await self._connection.execute(query)).first()
        return from_row(Target, row) if row else None

    async def in_force(self, *, affiliate_id: int | None = None) -> list[Target]:
        """Targets in force: everyone's, plus ``affiliate_id``'s own when given.

        An affiliate's own target for a metric and program replaces the one for everyone.
        """
        condition: ColumnElement[bool] = targets.c.affiliate_id.is_(None)
        if affiliate_id is not None:
            condition = or_(condition, targets.c.affiliate_id == affiliate_id)
        rows = await self._connection.execute(
            select(targets)
            .where(targets.c.ended_at.is_(None))
            .where(condition)
            .order_by(targets.c.metric, targets.c.program_id, targets.c.id)
        )
        chosen: dict[tuple[str, int | None], Target] = {}
        for row in rows:
            target = from_row(Target, row)
            key = (target.metric, target.program_id)
            if key not in chosen or target.affiliate_id is not None:
                chosen[key] = target
        return list(chosen.values())
