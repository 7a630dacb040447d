"""Programs and their commission history."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import from_row
from storage.errors import Conflict
from storage.schema import commissions, programs

CommissionKind = Literal["percent", "flat"]
ProgramStatus = Literal["active", "paused"]
_EDITABLE = frozenset(
    {
        "name",
        "destination_url",
        "fallback_url",
        "approval_required",
        "attribution_days",
        "holding_days",
        "min_payout_minor",
        "materials",
    }
)


@dataclass(frozen=True, slots=True)
class Commission:
    """A commission rate in force from ``effective_from``.

    ``value`` is basis points for ``percent`` (1250 = 12.5 %) and minor units of
    ``currency`` for ``flat``.
    """

    kind: CommissionKind
    value: int
    currency: str
    effective_from: datetime


@dataclass(frozen=True, slots=True)
class Program:
    id: int
    slug: str
    name: str
    destination_url: str
    fallback_url: str | None
    currency: str
    status: ProgramStatus
    approval_required: bool
    attribution_days: int
    holding_days: int
    min_payout_minor: int
    recurring_months: int
    materials: dict[str, Any]
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewProgram:
    slug: str
    name: str
    destination_url: str
    currency: str
    commission: Commission
    fallback_url: str | None = None
    approval_required: bool = False
    attribution_days: int = 30
    holding_days: int = 30
    min_payout_minor: int = 0
    recurring_months: int = 0


class ProgramRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, new: NewProgram, *, now: datetime, actor: str | None) -> Program:
        """Create a program with its first commission.

        Raises:
            Conflict: a program with this slug exists.
        """
        try:
            async with self._connection.begin_nested():
                result = await self._connection.execute(
                    programs.insert().values(
                        slug=new.slug,
                        name=new.name,
                        destination_url=new.destination_url,
                        fallback_url=new.fallback_url,
                        currency=new.currency,
                        status="active",
                        approval_required=new.approval_required,
                        attribution_days=new.attribution_days,
                        holding_days=new.holding_days,
                        min_payout_minor=new.min_payout_minor,
                        recurring_months=new.recurring_months,
                        materials={},
                        settings={},
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise Conflict(f"program {new.slug!r} exists") from None
        program_id = result.inserted_primary_key[0]  # type: ignore[index]
        await self.set_commission(program_id, new.commission, now=now, actor=actor)
        program = await self.get(program_id)
        if program is None:  # pragma: no cover - inserted above in this transaction
            raise RuntimeError("program vanished inside its own transaction")
        return program

    async def get(self, program_id: int) -> Program | None:
        row = (
            await self._connection.execute(select(programs).where(programs.c.id == program_id))
        ).first()
        return from_row(Program, row) if row else None

    async def by_slug(self, slug: str) -> Program | None:
        row = (
            await self._connection.execute(select(programs).where(programs.c.slug == slug))
        ).first()
        return from_row(Program, row) if row else None

    async def list(self, *, status: ProgramStatus | None = None) -> list[Program]:
        query = select(programs).order_by(programs.c.slug)
        if status is not None:
            query = query.where(programs.c.status == status)
        return [from_row(Program, row) for row in await self._connection.execute(query)]

    async def set_status(self, program_id: int, status: ProgramStatus, *, now: datetime) -> None:
        await self._connection.execute(
            update(programs)
            .where(programs.c.id == program_id)
            .values(status=status, updated_at=now)
        )

    async def set_commission(
        self, program_id: int, commission: Commission, *, now: datetime, actor: str | None
    ) -> None:
        """Append to the commission history; earlier rates stay for earlier conversions."""
        await self._connection.execute(
            commissions.insert().values(
                program_id=program_id,
                kind=commission.kind,
                value=commission.value,
                currency=commission.currency,
                effective_from=commission.effective_from,
                created_at=now,
                created_by=actor,
            )
        )

    async def commission_at(self, program_id: int, at: datetime) -> Commission | None:
        """The commission in force at ``at`` (the latest one that had started by then)."""
        row = (
            await self._connection.execute(
                select(commissions)
                .where(commissions.c.program_id == program_id)
                .where(commissions.c.effective_from <= at)
                .order_by(commissions.c.effective_from.desc(), commissions.c.id.desc())
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        return from_row(Commission, row)

    async def edit(self, program_id: int, *, now: datetime, **values: Any) -> None:
        """Change program fields (name, destination, fallback, windows, materials, …)."""
        unknown = set(values) - _EDITABLE
        if unknown:
            raise ValueError(f"not an editable program field: {', '.join(sorted(unknown))}")
        await self._connection.execute(
            update(programs).where(programs.c.id == program_id).values(**values, updated_at=now)
        )

    async def commission_history(self, program_id: int) -> builtins.list[Commission]:
        """Every commission the program has had or will have, oldest first."""
        rows = await self._connection.execute(
            select(commissions)
            .where(commissions.c.program_id == program_id)
            .order_by(commissions.c.effective_from, commissions.c.id)
        )
        return [from_row(Commission, row) for row in rows]
