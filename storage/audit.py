"""The audit log of manager actions: who did what, with the state before and after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import from_row
from storage.schema import audit_log


@dataclass(frozen=True, slots=True)
class AuditEntry:
    actor: str
    action: str
    subject: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    occurred_at: datetime


class AuditRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def record(self, entry: AuditEntry) -> None:
        """Append an entry; it commits (or not) with the change it describes."""
        await self._connection.execute(
            audit_log.insert().values(
                actor=entry.actor,
                action=entry.action,
                subject=entry.subject,
                before=entry.before,
                after=entry.after,
                occurred_at=entry.occurred_at,
            )
        )

    async def recent(self, limit: int = 50) -> list[AuditEntry]:
        rows = await self._connection.execute(
            select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        )
        return [from_row(AuditEntry, row) for row in rows]
