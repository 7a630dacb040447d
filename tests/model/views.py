"""Reading what users see: money and ranks out of replies, exports and the weekly post.

Each function reads one view the way its reader does (the reply's table, field or text;
the export's rows) and turns it into plain numbers the reference model can be held to.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select

from commands.broadcasts.weekly_post import leaderboard_messages
from commands.core.calendar import period
from commands.core.reply import Reply
from commands.reporting.export import export_table
from storage import Database
from storage.schedules import ScheduleTarget
from storage.schema import conversion_events, conversions, payout_conversions

UTC = ZoneInfo("UTC")
STATUSES = ("pending", "held", "payable", "paid", "reversed", "withheld")
_OWN = re.compile(r"^You are #(\d+) of \d+ with ([\d,]+) conversions?\.")
_REPORT_LINE = re.compile(r"^(\d+)\. #(\d+) .+ — (\d+)$")


def cents(text: str) -> int:
    """``1,234.50 USD`` or ``1234.50`` → 123450."""
    number = Decimal(text.replace(" USD", "").replace(",", ""))
    return int(number * 100)


def earnings(reply: Reply) -> tuple[dict[str, int] | None, dict[str, int] | None]:
    """The shop row and the bonus row of ``/earnings`` (``None`` when absent)."""
    if reply.table is None:
        return None, None
    # The "withheld" column is there only while something is withheld (a suspension).
    columns = STATUSES if len(reply.table.headers) == len(STATUSES) + 1 else STATUSES[:-1]
    rows = {
        row[0]: dict.fromkeys(STATUSES, 0) | dict(zip(columns, map(cents, row[1:]), strict=True))
        for row in reply.table.rows
    }
    return rows.get("shop"), rows.get("bonus")


def payouts(reply: Reply) -> dict[int, int]:
    """Affiliate id → amount owed, from ``/payouts``."""
    if reply.table is None:
        return {}
    return {int(row[0].lstrip("#")): cents(row[4]) for row in reply.table.rows}


Row = tuple[str, int, int]  # (name as shown, rank, conversions)


def board(reply: Reply) -> list[Row]:
    """(name, rank, conversions) rows of a ``/leaderboard`` board, in a stable order
    (several hidden affiliates share the name ``(hidden)``)."""
    if reply.table is None:
        return []
    return sorted((row[1], int(row[0].lstrip("#")), int(row[2])) for row in reply.table.rows)


def own_position(reply: Reply) -> tuple[int, int] | None:
    """(rank, conversions) from the private "Your position" reply."""
    found = _OWN.match(reply.text)
    return (int(found.group(1)), int(found.group(2))) if found else None


def report_leaders(reply: Reply) -> dict[int, tuple[int, int]]:
    """Affiliate id → (rank, conversions) from ``/report``'s top affiliates."""
    field = next(f for f in reply.fields if f.name == "Top affiliates (conversions)")
    found = {}
    for line in field.value.splitlines():
        match = _REPORT_LINE.match(line)
        if match:
            found[int(match.group(2))] = (int(match.group(1)), int(match.group(3)))
    return found


class _Discard(Exception):
    """Raised to roll back a transaction whose writes were only a way to read."""


async def weekly_post(database: Database, now: datetime) -> list[Row]:
    """(name, rank, conversions) rows of the weekly post for this week, composed as the
    schedule composes it and then rolled back (composing archives the season)."""
    found: list[Row] = []
    try:
        async with database.transaction() as store:
            (message,) = await leaderboard_messages(
                store,
                period("week", now, UTC),
                UTC,
                [ScheduleTarget("console", "room")],
                now=now,
                broadcast_key="model",
            )
            table = Reply.from_json(message.payload).table
            for row in table.rows if table else ():
                found.append((row[1], int(row[0].lstrip("#")), int(row[2].replace(",", ""))))
            raise _Discard
    except _Discard:
        pass
    return sorted(found)


async def payout_csv(database: Database, now: datetime) -> dict[int, int]:
    """Affiliate id → payable, from ``affbot export payouts``."""
    table = await export_table(database, "payouts", now=now, zone=UTC)
    return {int(row[0]): cents(row[5]) for row in table.rows}


async def conversions_csv(database: Database, now: datetime) -> dict[str, tuple[str, ...]]:
    """txn id → (affiliate id, commission cents, status, over cap) from the export."""
    table = await export_table(database, "conversions", now=now, zone=UTC, period="all")
    found: dict[str, tuple[str, ...]] = {}
    for row in table.rows:
        assert row[3] not in found, f"conversions CSV lists {row[3]} twice"
        found[row[3]] = (row[2], str(cents(row[6])), row[8], row[9])
    return found


async def ledger(database: Database) -> dict[str, tuple[int, str, int]]:
    """txn id → (affiliate id, status, commission) as the ledger tells it.

    The status is the last status event's (pending before any), or ``paid`` for approved
    commission a payout settled; the commission is what the approval event credited (for
    conversions never approved: the stored commission, 0 when over the cap).
    """
    async with database.read() as store:
        rows = (
            await store.connection.execute(
                select(
                    conversions.c.id,
                    conversions.c.txn_id,
                    conversions.c.affiliate_id,
                    conversions.c.commission_minor,
                    conversions.c.over_cap,
                )
            )
        ).all()
        events = (
            await store.connection.execute(
                select(
                    conversion_events.c.conversion_id,
                    conversion_events.c.status,
                    conversion_events.c.commission_delta_minor,
                ).order_by(conversion_events.c.id)
            )
        ).all()
        settled = {
            row.conversion_id
            for row in await store.connection.execute(select(payout_conversions.c.conversion_id))
        }
    last: dict[int, str] = {}
    credited: dict[int, int] = {}
    for event in events:
        last[event.conversion_id] = event.status
        if event.status == "approved":
            credited[event.conversion_id] = event.commission_delta_minor
    found = {}
    for row in rows:
        # A signup referral is born pending without a status event of its own.
        status = last.get(row.id, "pending")
        if status == "approved" and row.id in settled:
            status = "paid"
        stored = 0 if row.over_cap else row.commission_minor
        found[row.txn_id] = (row.affiliate_id, status, credited.get(row.id, stored))
    return found
