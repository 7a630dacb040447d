"""Conversions, their status history and the commission balance that history adds up to.

Idempotency lives in the database: ``conversions`` is unique per (program, txn_id) and
``conversion_events`` per (conversion, status). Inserts use ``ON CONFLICT DO NOTHING`` and
report whether they won, so concurrent duplicates settle on one row on both engines.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import from_row, insert_ignoring_conflicts
from storage.schema import conversion_events, conversions

ConversionStatus = Literal["pending", "approved", "paid", "reversed"]
ConversionKind = Literal["sale", "lead", "signup"]
Metric = Literal["conversions", "commission"]

# The statuses of a signup that has qualified by its program's rule (see
# ``commands.rewards.signups``); a pending signup is a bare /start and counts for nothing.
QUALIFIED_SIGNUP_STATUSES = ("approved", "paid")


def counted() -> ColumnElement[bool]:
    """Whether a conversion counts as one, as one SQL condition on ``conversions``.

    The single definition behind every count, rank, target, cap and report: a reversed
    conversion, one reported while its affiliate was suspended, and a signup that has not
    qualified (a bare ``/start`` from a throwaway account) count for nothing. Over-cap
    conversions do count (they happened; they only earn nothing).
    """
    return and_(
        conversions.c.status != "reversed",
        conversions.c.while_suspended.is_(False),
        or_(
            conversions.c.kind != "signup",
            conversions.c.status.in_(QUALIFIED_SIGNUP_STATUSES),
        ),
    )


@dataclass(frozen=True, slots=True)
class NewConversion:
    program_id: int
    affiliate_id: int | None
    link_id: int | None
    click_id: str | None
    txn_id: str
    kind: ConversionKind
    amount_minor: int
    currency: str
    commission_minor: int
    status: ConversionStatus
    over_cap: bool
    customer_id: str | None
    occurred_at: datetime
    # The salted hash of the customer's IP, when the network reported one; never the address.
    customer_ip_hash: str | None = None
    # Reported while the affiliate was suspended: recorded for the audit trail, earns nothing.
    while_suspended: bool = False


@dataclass(frozen=True, slots=True)
class Conversion:
    id: int
    program_id: int
    affiliate_id: int | None
    link_id: int | None
    click_id: str | None
    txn_id: str
    kind: ConversionKind
    amount_minor: int
    currency: str
    commission_minor: int
    status: ConversionStatus
    over_cap: bool
    customer_id: str | None
    occurred_at: datetime
    created_at: datetime
    updated_at: datetime
    customer_ip_hash: str | None = None
    while_suspended: bool = False


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """One status a conversion reached, with the answer given when it did."""

    conversion_id: int
    status: ConversionStatus
    previous_status: ConversionStatus | None
    commission_delta_minor: int
    response: dict[str, Any]
    source: str
    occurred_at: datetime


class ConversionRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def insert(self, new: NewConversion, *, now: datetime) -> int | None:
        """Insert unless (program, txn_id) exists; returns the new id, or ``None`` if it did.

        A concurrent insert of the same transaction waits for the winner on PostgreSQL and
        then inserts nothing, so exactly one row exists whatever the timing.
        """
        statement = (
            insert_ignoring_conflicts(self._connection, conversions)
            .values(
                program_id=new.program_id,
                affiliate_id=new.affiliate_id,
                link_id=new.link_id,
                click_id=new.click_id,
                txn_id=new.txn_id,
                kind=new.kind,
                amount_minor=new.amount_minor,
                currency=new.currency,
                commission_minor=new.commission_minor,
                status=new.status,
                over_cap=new.over_cap,
                customer_id=new.customer_id,
                customer_ip_hash=new.customer_ip_hash,
                while_suspended=new.while_suspended,
                occurred_at=new.occurred_at,
                created_at=now,
                updated_at=now,
            )
            .returning(conversions.c.id)
        )
        inserted = (await self._connection.execute(statement)).first()
        return int(inserted[0]) if inserted else None

    async def by_txn(self, program_id: int, txn_id: str) -> Conversion | None:
        row = (
            await self._connection.execute(
                select(conversions)
                .where(conversions.c.program_id == program_id)
                .where(conversions.c.txn_id == txn_id)
            )
        ).first()
        return from_row(Conversion, row) if row else None

    async def get(self, conversion_id: int) -> Conversion | None:
        row = (
            await self._connection.execute(
                select(conversions).where(conversions.c.id == conversion_id)
            )
        ).first()
        return from_row(Conversion, row) if row else None

    async def move(
        self,
        conversion_id: int,
        current: ConversionStatus,
        new: ConversionStatus,
        *,
        now: datetime,
    ) -> bool:
        """Change the status only if it still is ``current``; returns whether it changed."""
        result = await self._connection.execute(
            update(conversions)
            .where(conversions.c.id == conversion_id)
            .where(conversions.c.status == current)
            .values(status=new, updated_at=now)
        )
        return result.rowcount == 1

    async def add_event(self, event: StatusEvent) -> bool:
        """Record that a conversion reached a status; ``False`` if it had already."""
        statement = (
            insert_ignoring_conflicts(self._connection, conversion_events)
            .values(
                conversion_id=event.conversion_id,
                status=event.status,
                previous_status=event.previous_status,
                commission_delta_minor=event.commission_delta_minor,
                response=event.response,
                source=event.source,
                occurred_at=event.occurred_at,
            )
            .returning(conversion_events.c.id)
        )
        return (await self._connection.execute(statement)).first() is not None

    async def event(self, conversion_id: int, status: ConversionStatus) -> StatusEvent | None:
        row = (
            await self._connection.execute(
                select(conversion_events)
                .where(conversion_events.c.conversion_id == conversion_id)
                .where(conversion_events.c.status == status)
            )
        ).first()
        return from_row(StatusEvent, row) if row else None

    async def history(self, conversion_id: int) -> list[StatusEvent]:
        """Every status the conversion reached, in order."""
        rows = await self._connection.execute(
            select(conversion_events)
            .where(conversion_events.c.conversion_id == conversion_id)
            .order_by(conversion_events.c.id)
        )
        return [from_row(StatusEvent, row) for row in rows]

    async def first_of_customer(self, program_id: int, customer_id: str) -> Conversion | None:
        """The customer's earliest attributed purchase (sale or lead) in a program, for the
        new-versus-repeat customer rule of recurring commission.

        A signup is not a purchase: a person referred through a chat deep link buys for the
        first time with their first sale (see :meth:`signup_of_customer` for who referred them).
        """
        row = (
            await self._connection.execute(
                select(conversions)
                .where(conversions.c.program_id == program_id)
                .where(conversions.c.customer_id == customer_id)
                .where(conversions.c.affiliate_id.is_not(None))
                .where(conversions.c.kind != "signup")
                .order_by(conversions.c.occurred_at, conversions.c.id)
                .limit(1)
            )
        ).first()
        return from_row(Conversion, row) if row else None

    async def signup_of_customer(self, program_id: int, customer_id: str) -> Conversion | None:
        """The attributed signup a customer was referred by in a program, if any (not
        reversed): their first purchase belongs to that referrer when nothing else says who."""
        row = (
            await self._connection.execute(
                select(conversions)
                .where(conversions.c.program_id == program_id)
                .where(conversions.c.customer_id == customer_id)
                .where(conversions.c.affiliate_id.is_not(None))
                .where(conversions.c.kind == "signup")
                .where(conversions.c.status != "reversed")
                .order_by(conversions.c.occurred_at, conversions.c.id)
                .limit(1)
            )
        ).first()
        return from_row(Conversion, row) if row else None

    async def usage(
        self,
        program_id: int,
        metric: Metric,
        start: datetime | None,
        end: datetime | None,
        *,
        affiliate_id: int | None = None,
    ) -> int:
        """What counts against a cap: commissionable conversions (or their commission).

        Only :func:`counted` conversions within the cap count; ``start``/``end`` bound
        ``occurred_at`` (``None``: unbounded).
        """
        conditions = [
            conversions.c.program_id == program_id,
            counted(),
            conversions.c.over_cap.is_(False),
        ]
        if affiliate_id is not None:
            conditions.append(conversions.c.affiliate_id == affiliate_id)
        if start is not None:
            conditions.append(conversions.c.occurred_at >= start)
        if end is not None:
            conditions.append(conversions.c.occurred_at < end)
        measure = (
            func.count()
            if metric == "conversions"
            else func.coalesce(func.sum(conversions.c.commission_minor), 0)
        )
        query = select(measure).select_from(conversions).where(and_(*conditions))
        return int((await self._connection.execute(query)).scalar_one())

    async def balances(self, affiliate_id: int) -> dict[str, int]:
        """The affiliate's commission balance per currency, in minor units.

        The sum of every status change's delta: approved commission is owed, a payout
        takes it off, and a clawback of a paid conversion leaves the balance negative,
        carried forward against later commission.
        """
        rows = await self._connection.execute(
            select(
                conversions.c.currency,
                func.sum(conversion_events.c.commission_delta_minor),
            )
            .select_from(
                conversion_events.join(
                    conversions, conversions.c.id == conversion_events.c.conversion_id
                )
            )
            .where(conversions.c.affiliate_id == affiliate_id)
            .group_by(conversions.c.currency)
            .order_by(conversions.c.currency)
        )
        return {row[0]: int(row[1] or 0) for row in rows}

    async def count(self, *, program_id: int | None = None) -> int:
        query = select(func.count()).select_from(conversions)
        if program_id is not None:
            query = query.where(conversions.c.program_id == program_id)
        return int((await self._connection.execute(query)).scalar_one())
