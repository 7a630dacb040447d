"""The outbox: messages the bot sends on its own initiative, queued idempotently.

Queuing is part of the caller's transaction, so an announcement is queued if and only if
the change it announces is committed. Delivery (claiming, pacing, retries) belongs to the
dispatcher in ``bot``; this module only knows rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import insert_ignoring_conflicts
from storage.schema import outbox

TargetKind = Literal["user", "chat"]


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
