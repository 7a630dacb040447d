"""Earnings by status and payouts: what is held, what is payable, what was paid.

A conversion's commission is *held* while approved and younger than its program's holding
period, *payable* once approved and older, and *paid* when a manager records a payout that
settles it. Over-cap conversions earn nothing, so they never appear in these sums.

While an affiliate is suspended, their approved commission and unpaid bonuses are
*withheld*: neither held nor payable, so no payout settles them. Nothing is changed in
storage; reinstating the affiliate makes the same money held or payable again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, false, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import from_row, insert_ignoring_conflicts
from storage.errors import Conflict
from storage.schema import (
    affiliates,
    conversions,
    payout_bonuses,
    payout_conversions,
    payouts,
    programs,
    reward_bonuses,
)


@dataclass(frozen=True, slots=True)
class Balance:
    """One affiliate's commission in one program, by status (minor units of ``currency``).

    ``next_release`` is when the oldest held commission (a non-zero amount) becomes
    payable; ``None`` when nothing is held.
    """

    affiliate_id: int
    program_id: int
    program_slug: str
    currency: str
    min_payout_minor: int
    holding_days: int
    pending_minor: int
    held_minor: int
    payable_minor: int
    paid_minor: int
    reversed_minor: int
    next_release: datetime | None
    # Approved commission of a suspended affiliate (neither held nor payable meanwhile).
    withheld_minor: int = 0


@dataclass(frozen=True, slots=True)
class PayableConversion:
    id: int
    program_id: int
    commission_minor: int
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class BonusTotals:
    """One affiliate's manager bonuses in one currency: unpaid (payable now) and paid."""

    affiliate_id: int
    currency: str
    unpaid_minor: int
    paid_minor: int
    unpaid_ids: tuple[int, ...]
    # Unpaid bonuses of a suspended affiliate (not payable until reinstated).
    withheld_minor: int = 0


@dataclass(frozen=True, slots=True)
class Payout:
    id: int
    affiliate_id: int
    amount_minor: int
    currency: str
    reference: str | None
    created_by: str
    created_at: datetime


class PayoutRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def balances(self, *, now: datetime, affiliate_id: int | None = None) -> list[Balance]:
        """Balances per affiliate and program (only pairs with any commission at all)."""
        program_rows = list(
            await self._connection.execute(
                select(
                    programs.c.id,
                    programs.c.slug,
                    programs.c.currency,
                    programs.c.min_payout_minor,
                    programs.c.holding_days,
                )
            )
        )
        if not program_rows:
            return []
        released = _released(program_rows, now)
        earning = conversions.c.over_cap.is_(False)
        approved = and_(earning, conversions.c.status == "approved")
        amount = conversions.c.commission_minor

        def total(condition: Any) -> Any:
            return func.coalesce(func.sum(case((condition, amount), else_=0)), 0)

        query = (
            select(
                conversions.c.affiliate_id,
                conversions.c.program_id,
                total(and_(earning, conversions.c.status == "pending")).label("pending"),
                total(and_(approved, ~released)).label("held"),
                total(and_(approved, released)).label("payable"),
                total(and_(earning, conversions.c.status == "paid")).label("paid"),
                total(conversions.c.status == "reversed").label("reversed"),
                # Held conversions that earned nothing (0 commission) release no money.
                func.min(
                    case((and_(approved, ~released, amount > 0), conversions.c.occurred_at))
                ).label("oldest_held"),
            )
            .where(conversions.c.affiliate_id.is_not(None))
            .group_by(conversions.c.affiliate_id, conversions.c.program_id)
            .order_by(conversions.c.affiliate_id, conversions.c.program_id)
        )
        if affiliate_id is not None:
            query = query.where(conversions.c.affiliate_id == affiliate_id)
        by_id = {row.id: row for row in program_rows}
        suspended = await self._suspended()
        balances = []
        for row in await self._connection.execute(query):
            program = by_id[row.program_id]
            oldest = _aware(row.oldest_held)
            balance = Balance(
                affiliate_id=row.affiliate_id,
                program_id=row.program_id,
                program_slug=program.slug,
                currency=program.currency,
                min_payout_minor=program.min_payout_minor,
                holding_days=program.holding_days,
                pending_minor=int(row.pending),
                held_minor=int(row.held),
                payable_minor=int(row.payable),
                paid_minor=int(row.paid),
                reversed_minor=int(row.reversed),
                next_release=(oldest + timedelta(days=program.holding_days) if oldest else None),
            )
            if row.affiliate_id in suspended:
                balance = replace(
                    balance,
                    held_minor=0,
                    payable_minor=0,
                    next_release=None,
                    withheld_minor=balance.held_minor + balance.payable_minor,
                )
            balances.append(balance)
        return balances

    async def _suspended(self) -> set[int]:
        """The affiliates whose money is withheld right now."""
        rows = await self._connection.execute(
            select(affiliates.c.id).where(affiliates.c.status == "suspended")
        )
        return {int(row.id) for row in rows}

    async def payable_conversions(
        self, affiliate_id: int, program_ids: Sequence[int], *, now: datetime
    ) -> list[PayableConversion]:
        """The approved, released conversions of an affiliate in these programs (none while
        the affiliate is suspended: their commission is withheld)."""
        if not program_ids or affiliate_id in await self._suspended():
            return []
        program_rows = list(
            await self._connection.execute(
                select(programs.c.id, programs.c.holding_days).where(
                    programs.c.id.in_(program_ids)
                )
            )
        )
        rows = await self._connection.execute(
            select(
                conversions.c.id,
                conversions.c.program_id,
                conversions.c.commission_minor,
                conversions.c.occurred_at,
            )
            .where(conversions.c.affiliate_id == affiliate_id)
            .where(conversions.c.status == "approved")
            .where(conversions.c.over_cap.is_(False))
            .where(_released(program_rows, now))
            .order_by(conversions.c.occurred_at, conversions.c.id)
        )
        return [from_row(PayableConversion, row) for row in rows]

    async def record(
        self,
        affiliate_id: int,
        amount_minor: int,
        currency: str,
        conversion_ids: Sequence[int],
        *,
        reference: str | None,
        actor: str,
        now: datetime,
        bonus_ids: Sequence[int] = (),
    ) -> Payout:
        """Record a payout, move its conversions from approved to paid and settle the
        manager bonuses ``bonus_ids``.

        Raises:
            Conflict: one of the conversions is no longer approved or one of the bonuses
                was already paid (a concurrent payout or reversal got there first); the
                caller's transaction must be rolled back.
        """
        result = await self._connection.execute(
            payouts.insert().values(
                affiliate_id=affiliate_id,
                amount_minor=amount_minor,
                currency=currency,
                reference=reference,
                created_by=actor,
                created_at=now,
            )
        )
        payout_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        moved = await self._connection.execute(
            update(conversions)
            .where(conversions.c.id.in_(conversion_ids))
            .where(conversions.c.status == "approved")
            .values(status="paid", updated_at=now)
        )
        if moved.rowcount != len(conversion_ids):
            raise Conflict("some conversions changed status meanwhile")
        if conversion_ids:
            await self._connection.execute(
                payout_conversions.insert(),
                [{"payout_id": payout_id, "conversion_id": cid} for cid in conversion_ids],
            )
        if bonus_ids:
            settled = await self._connection.execute(
                insert_ignoring_conflicts(self._connection, payout_bonuses)
                .values([{"payout_id": payout_id, "bonus_id": bid} for bid in bonus_ids])
                .returning(payout_bonuses.c.bonus_id)
            )
            if len(settled.all()) != len(bonus_ids):
                raise Conflict("some bonuses were paid meanwhile")
        return Payout(payout_id, affiliate_id, amount_minor, currency, reference, actor, now)

    async def bonuses(self, affiliate_id: int | None = None) -> list[BonusTotals]:
        """Manager money bonuses per affiliate and currency, split into unpaid and paid.

        A bonus is paid once a payout lists it in ``payout_bonuses``. A suspended
        affiliate's unpaid bonuses are reported as ``withheld_minor`` (not payable).
        """
        query = (
            select(
                reward_bonuses.c.id,
                reward_bonuses.c.affiliate_id,
                reward_bonuses.c.currency,
                reward_bonuses.c.amount_minor,
                payout_bonuses.c.payout_id,
            )
            .select_from(
                reward_bonuses.outerjoin(
                    payout_bonuses, payout_bonuses.c.bonus_id == reward_bonuses.c.id
                )
            )
            .order_by(
                reward_bonuses.c.affiliate_id, reward_bonuses.c.currency, reward_bonuses.c.id
            )
        )
        if affiliate_id is not None:
            query = query.where(reward_bonuses.c.affiliate_id == affiliate_id)
        grouped: dict[tuple[int, str], tuple[int, int, list[int]]] = {}
        for row in await self._connection.execute(query):
            unpaid, paid, ids = grouped.get((row.affiliate_id, row.currency), (0, 0, []))
            if row.payout_id is None:
                unpaid += row.amount_minor
                ids.append(row.id)
            else:
                paid += row.amount_minor
            grouped[(row.affiliate_id, row.currency)] = (unpaid, paid, ids)
        suspended = await self._suspended()
        return [
            BonusTotals(who, currency, 0, paid, (), withheld_minor=unpaid)
            if who in suspended
            else BonusTotals(who, currency, unpaid, paid, tuple(ids))
            for (who, currency), (unpaid, paid, ids) in grouped.items()
        ]

    async def history(self, affiliate_id: int | None = None, limit: int = 100) -> list[Payout]:
        """Recorded payouts, newest first."""
        query = select(payouts).order_by(payouts.c.created_at.desc(), payouts.c.id.desc())
        if affiliate_id is not None:
            query = query.where(payouts.c.affiliate_id == affiliate_id)
        rows = await self._connection.execute(query.limit(limit))
        return [from_row(Payout, row) for row in rows]


def _released(program_rows: Sequence[Any], now: datetime) -> Any:
    """Whether a conversion is past its program's holding period, as one SQL condition.

    Holding periods differ per program; spelling the cutoff out per program keeps the
    date arithmetic in Python, identical on both engines.
    """
    conditions = [
        and_(
            conversions.c.program_id == row.id,
            conversions.c.occurred_at <= now - timedelta(days=row.holding_days),
        )
        for row in program_rows
    ]
    return or_(*conditions) if conditions else false()


def _aware(value: datetime | None) -> datetime | None:
    """``min()`` over a column loses the column type on SQLite; restore UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
