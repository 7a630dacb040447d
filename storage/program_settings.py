"""Changes to a program's tracking settings: destination, fallback and postback settings.

Kept apart from ``storage.programs`` (creation and commission history) because these are
edited one key at a time by ``/program set``; every change bumps ``updated_at``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.schema import programs


class ProgramSettingsRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def set_destination(self, program_id: int, url: str, *, now: datetime) -> None:
        await self._update(program_id, now, destination_url=url)

    async def set_fallback(self, program_id: int, url: str | None, *, now: datetime) -> None:
        await self._update(program_id, now, fallback_url=url)

    async def set_recurring_months(self, program_id: int, months: int, *, now: datetime) -> None:
        await self._update(program_id, now, recurring_months=months)

    async def replace_settings(
        self, program_id: int, settings: dict[str, Any], *, now: datetime
    ) -> None:
        """Store the whole settings document (callers read, change and write it back)."""
        await self._update(program_id, now, settings=settings)

    async def _update(self, program_id: int, now: datetime, **values: Any) -> None:
        await self._connection.execute(
            update(programs).where(programs.c.id == program_id).values(updated_at=now, **values)
        )
