"""Signup referrals: a deep-link start recorded as a conversion of kind ``signup``.

A referral is a row in ``conversions`` like any other, so stats, caps and approvals treat it
the same way; its transaction id names the referred account (``signup:telegram:42``), and
the unique (program, txn_id) constraint makes recording it idempotent even when two starts
race.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import from_row, insert_ignoring_conflicts
from storage.program_settings import ProgramSettingsRepository
from storage.schema import conversions

SIGNUP_REFERRALS = "signup_referrals"  # the program setting that turns them on


@dataclass(frozen=True, slots=True)
class SignupReferral:
    id: int
    program_id: int
    affiliate_id: int | None
    link_id: int | None
    txn_id: str
    customer_id: str | None
    status: str
    commission_minor: int
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class NewSignup:
    program_id: int
    affiliate_id: int
    link_id: int
    txn_id: str
    customer_id: str
    currency: str


class ReferralRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def record_signup(self, signup: NewSignup, *, now: datetime) -> bool:
        """Insert a pending, zero-commission signup; returns False when the referred
        account was recorded for this program before (nothing changes then).

        The commission stays 0 until the program's qualifying rule approves the referral,
        so a farm of throwaway accounts earns nothing by starting the bot.
        """
        result = await self._connection.execute(
            insert_ignoring_conflicts(self._connection, conversions).values(
                program_id=signup.program_id,
                affiliate_id=signup.affiliate_id,
                link_id=signup.link_id,
                txn_id=signup.txn_id,
                kind="signup",
                amount_minor=0,
                currency=signup.currency,
                commission_minor=0,
                status="pending",
                over_cap=False,
                customer_id=signup.customer_id,
                occurred_at=now,
                created_at=now,
                updated_at=now,
            )
        )
        return bool(result.rowcount == 1)

    async def signup(self, program_id: int, txn_id: str) -> SignupReferral | None:
        """The recorded signup with this transaction id in the program, if any."""
        row = (
            await self._connection.execute(
                select(conversions)
                .where(conversions.c.program_id == program_id)
                .where(conversions.c.txn_id == txn_id)
                .where(conversions.c.kind == "signup")
            )
        ).first()
        return from_row(SignupReferral, row) if row else None

    async def signups_of(self, affiliate_id: int) -> list[SignupReferral]:
        """Every signup credited to an affiliate, oldest first."""
        rows = await self._connection.execute(
            select(conversions)
            .where(conversions.c.affiliate_id == affiliate_id)
            .where(conversions.c.kind == "signup")
            .order_by(conversions.c.id)
        )
        return [from_row(SignupReferral, row) for row in rows]

    async def set_signup_referrals(self, program_id: int, enabled: bool, *, now: datetime) -> None:
        """Turn deep-link signup referrals on or off for a program (its settings JSON)."""
        settings = ProgramSettingsRepository(self._connection)
        await settings.set_flag(program_id, SIGNUP_REFERRALS, enabled, now=now)
