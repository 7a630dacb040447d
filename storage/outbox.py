"""The outbox: messages the bot sends on its own initiative, queued idempotently.

Queuing is part of the caller's transaction, so an announcement is queued if and only if
the change it announces is committed. Delivery (pacing, retries, when to claim) belongs to
the dispatcher in ``bot``; this module owns the row states it moves through::

    queued ──claim──▶ sending ──mark_sent──▶ sent
      ▲                 │ ├──retry──▶ queued (later)   ├──fail──▶ failed
      └──release────────┘ ├──mark_unreachable──▶ failed + identity marked unreachable
                          └──skip_unreachable──▶ skipped (identity already unreachable)

A claim is a lease: ``lease_until`` says until when the claiming process owns the row. A
process that dies (SIGKILL) leaves its rows in ``sending``; once the lease runs out any
dispatcher claims them again, so nothing is lost and only rows that were in flight can be
sent twice. On PostgreSQL the claim selects ``FOR UPDATE SKIP LOCKED``, so two processes
never claim the same row; on SQLite the claiming transaction is ``BEGIN IMMEDIATE`` (see
``storage.database``), which serialises claims across processes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import from_row, insert_ignoring_conflicts
from storage.schema import identities, outbox

TargetKind = Literal["user", "chat"]
UNREACHABLE_PREFIX = "unreachable: "


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message to queue.

    ``dedupe_key`` names the message's meaning (``announce:17:telegram:chat:-100``);
    queuing the same key twice queues nothing new. ``payload`` is ``Reply.to_json()``.
    """

    dedupe_key: str
    platform: str
    target_kind: TargetKind
    target_id: str
    payload: dict[str, Any]
    broadcast_key: str | None = None


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    """A row this process leased for delivery until ``lease_until``.

    ``attempts`` already counts the attempt the claim starts.
    """

    id: int
    dedupe_key: str
    platform: str
    target_kind: TargetKind
    target_id: str
    payload: dict[str, Any]
    attempts: int
    lease_until: datetime


@dataclass(frozen=True, slots=True)
class DeliveryCounts:
    """Where the rows of one broadcast (or of everything) stand."""

    queued: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    unreachable: int = 0  # failed or skipped because the recipient cannot be reached

    @property
    def total(self) -> int:
        return self.queued + self.sending + self.sent + self.failed + self.skipped


@dataclass(frozen=True, slots=True)
class Broadcast:
    key: str
    first_queued_at: datetime


class OutboxRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def enqueue(self, messages: Iterable[OutgoingMessage], *, now: datetime) -> int:
        """Queue messages in one statement; returns how many were new."""
        rows = [
            {
                "dedupe_key": message.dedupe_key,
                "platform": message.platform,
                "target_kind": message.target_kind,
                "target_id": message.target_id,
                "payload": message.payload,
                "broadcast_key": message.broadcast_key,
                "status": "queued",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for message in messages
        ]
        if not rows:
            return 0
        statement = insert_ignoring_conflicts(self._connection, outbox).returning(outbox.c.id)
        result = await self._connection.execute(statement, rows)
        return len(result.all())

    async def by_key(self, dedupe_key: str) -> dict[str, Any] | None:
        """The stored row for a key (status, attempts, payload), for tests and reports."""
        row = (
            await self._connection.execute(select(outbox).where(outbox.c.dedupe_key == dedupe_key))
        ).first()
        return dict(row._mapping) if row else None

    async def skip_unreachable(
        self, claimed: Sequence[ClaimedMessage]
    ) -> tuple[list[ClaimedMessage], int]:
        """Mark claimed messages to recipients known to be unreachable as skipped.

        Call it in the claiming transaction: those messages are never sent (no request
        reaches the platform), which matters on Discord, where every refused DM counts
        against the invalid-request budget that gets the bot's IP banned. The check costs
        one indexed lookup per claimed row, however large the broadcast. Returns the
        messages still to send and how many were skipped.
        """
        users = {m.target_id for m in claimed if m.target_kind == "user"}
        if not users:
            return list(claimed), 0
        platform = claimed[0].platform
        rows = await self._connection.execute(
            select(identities.c.platform_user_id, identities.c.unreachable_reason)
            .where(identities.c.platform == platform)
            .where(identities.c.platform_user_id.in_(users))
            .where(identities.c.unreachable_at.is_not(None))
        )
        reasons = {row.platform_user_id: row.unreachable_reason or "" for row in rows}
        if not reasons:
            return list(claimed), 0
        keep: list[ClaimedMessage] = []
        skipped: list[ClaimedMessage] = []
        for message in claimed:
            gone = message.target_kind == "user" and message.target_id in reasons
            (skipped if gone else keep).append(message)
        for message in skipped:
            await self._connection.execute(
                update(outbox)
                .where(outbox.c.id == message.id)
                .values(
                    status="skipped",
                    lease_until=None,
                    attempts=outbox.c.attempts - 1,  # nothing was tried
                    last_error=f"{UNREACHABLE_PREFIX}{reasons[message.target_id]}",
                )
            )
        return keep, len(skipped)

    async def claim(
        self, platform: str, *, now: datetime, limit: int, lease: timedelta
    ) -> list[ClaimedMessage]:
        """Lease up to ``limit`` due messages of ``platform``, oldest first.

        Due means queued with ``next_attempt_at <= now``, or left in ``sending`` by a
        process whose lease has run out. Each claim counts as an attempt, so a message that
        crashes its sender every time is eventually given up instead of looping forever.
        """
        due = (
            select(outbox.c.id)
            .where(outbox.c.platform == platform)
            .where(
                or_(
                    and_(outbox.c.status == "queued", outbox.c.next_attempt_at <= now),
                    and_(outbox.c.status == "sending", outbox.c.lease_until < now),
                )
            )
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
            # PostgreSQL: rows another transaction is claiming are passed over, not waited
            # for; SQLite renders no FOR UPDATE (its claim runs under BEGIN IMMEDIATE).
            .with_for_update(skip_locked=True)
        )
        lease_until = now + lease
        result = await self._connection.execute(
            update(outbox)
            .where(outbox.c.id.in_(due.scalar_subquery()))
            .values(status="sending", lease_until=lease_until, attempts=outbox.c.attempts + 1)
            .returning(
                outbox.c.id,
                outbox.c.dedupe_key,
                outbox.c.platform,
                outbox.c.target_kind,
                outbox.c.target_id,
                outbox.c.payload,
                outbox.c.attempts,
                outbox.c.next_attempt_at,
            )
        )
        rows = sorted(result.all(), key=lambda row: (row.next_attempt_at, row.id))
        return [from_row(ClaimedMessage, row, lease_until=lease_until) for row in rows]

    async def mark_sent(self, ids: Sequence[int], *, now: datetime) -> int:
        """Record delivered messages (a batch: one statement for many ids)."""
        if not ids:
            return 0
        result = await self._connection.execute(
            update(outbox)
            .where(outbox.c.id.in_(list(ids)))
            .where(outbox.c.status != "sent")
            .values(status="sent", sent_at=now, lease_until=None, last_error=None)
        )
        return int(result.rowcount)

    async def retry(self, message_id: int, *, error: str, at: datetime) -> None:
        """Put a message back in the queue after a transient failure, due again ``at``."""
        await self._connection.execute(
            update(outbox)
            .where(outbox.c.id == message_id)
            .where(outbox.c.status == "sending")
            .values(status="queued", next_attempt_at=at, lease_until=None, last_error=error)
        )

    async def release(self, ids: Sequence[int], *, at: datetime) -> None:
        """Hand claimed but unsent messages back (shutdown, a platform-wide pause).

        The claim's attempt is taken back: nothing was tried.
        """
        if not ids:
            return
        await self._connection.execute(
            update(outbox)
            .where(outbox.c.id.in_(list(ids)))
            .where(outbox.c.status == "sending")
            .values(
                status="queued",
                next_attempt_at=at,
                lease_until=None,
                attempts=case((outbox.c.attempts > 0, outbox.c.attempts - 1), else_=0),
            )
        )

    async def fail(self, message_id: int, *, error: str) -> None:
        """Park a message for good (given up after retries, or refused by the platform)."""
        await self._connection.execute(
            update(outbox)
            .where(outbox.c.id == message_id)
            .values(status="failed", lease_until=None, last_error=error)
        )

    async def skip(self, ids: Sequence[int], *, reason: str) -> None:
        """Mark messages skipped without trying them (recipient found unreachable)."""
        if not ids:
            return
        await self._connection.execute(
            update(outbox)
            .where(outbox.c.id.in_(list(ids)))
            .where(outbox.c.status.in_(("queued", "sending")))
            .values(status="skipped", lease_until=None, last_error=reason)
        )

    async def mark_unreachable(
        self, message: ClaimedMessage, *, reason: str, now: datetime
    ) -> None:
        """Park a message the platform refused for good and remember its recipient.

        For a user, the identity is marked unreachable, so later messages to it are
        skipped without a request until the person talks to the bot again
        (``AffiliateRepository.touch`` clears the mark).
        """
        await self.fail(message.id, error=f"{UNREACHABLE_PREFIX}{reason}")
        if message.target_kind == "user":
            await self._connection.execute(
                update(identities)
                .where(identities.c.platform == message.platform)
                .where(identities.c.platform_user_id == message.target_id)
                .values(unreachable_reason=reason, unreachable_at=now)
            )

    async def counts(self, broadcast_key: str | None = None) -> DeliveryCounts:
        """Rows per status for one broadcast, or for the whole outbox."""
        unreachable = func.sum(
            case((outbox.c.last_error.like(f"{UNREACHABLE_PREFIX}%"), 1), else_=0)
        )
        statement = select(outbox.c.status, func.count(), unreachable).group_by(outbox.c.status)
        if broadcast_key is not None:
            statement = statement.where(outbox.c.broadcast_key == broadcast_key)
        values: dict[str, int] = {}
        unreachable_total = 0
        for status, count, unreachable_count in await self._connection.execute(statement):
            values[status] = int(count)
            if status in {"failed", "skipped"}:
                unreachable_total += int(unreachable_count or 0)
        return DeliveryCounts(**values, unreachable=unreachable_total)

    async def latest_broadcast(self) -> Broadcast | None:
        """The most recently queued broadcast (the one ``/delivery`` reports on)."""
        row = (
            await self._connection.execute(
                select(outbox.c.broadcast_key, outbox.c.created_at)
                .where(outbox.c.broadcast_key.is_not(None))
                .order_by(outbox.c.id.desc())
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        first = await self._connection.execute(
            select(func.min(outbox.c.created_at)).where(
                outbox.c.broadcast_key == row.broadcast_key
            )
        )
        return Broadcast(row.broadcast_key, first.scalar_one())

    async def recent_failures(
        self, broadcast_key: str, *, limit: int = 5
    ) -> list[tuple[str, str, str]]:
        """(platform, target id, reason) of failed rows, for the manager's status view."""
        rows = await self._connection.execute(
            select(outbox.c.platform, outbox.c.target_id, outbox.c.last_error)
            .where(outbox.c.broadcast_key == broadcast_key)
            .where(outbox.c.status == "failed")
            .order_by(outbox.c.id)
            .limit(limit)
        )
        return [(row.platform, row.target_id, row.last_error or "") for row in rows]
