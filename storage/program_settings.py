"""Changes to a program's tracking settings: destination, fallback and postback settings.

Kept apart from ``storage.programs`` (creation and commission history) because these are
edited one key at a time by ``/program set``; every change bumps ``updated_at``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
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

    async def set_flag(self, program_id: int, key: str, value: Any, *, now: datetime) -> None:
        """Set one key of the settings document, keeping the others (no-op for no program)."""
        current = (
            await self._connection.execute(
                select(programs.c.settings).where(programs.c.id == program_id)
            )
        ).first()
        if current is None:
            return
        await self.replace_settings(program_id, {**(current.settings or {}), key: value}, now=now)

    async def _update(self, program_id: int, now: datetime, **values: Any) -> None:
        await self._connection.execute(
            update(programs).where(programs.c.id == program_id).values(updated_at=now, **values)
        )
