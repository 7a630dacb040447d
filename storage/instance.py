"""Values this installation generates once and keeps (such as the IP hash salt)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import insert_ignoring_conflicts
from storage.schema import instance_settings


class InstanceSettingsRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def get_or_create(self, key: str, value: str, *, now: datetime) -> str:
        """The stored value for ``key``; stores ``value`` first if there is none.

        Two processes starting together both offer a value; the database keeps the first
        and both read back the same one.
        """
        await self._connection.execute(
            insert_ignoring_conflicts(self._connection, instance_settings).values(
                key=key, value=value, created_at=now
            )
        )
        stored = await self._connection.execute(
            select(instance_settings.c.value).where(instance_settings.c.key == key)
        )
        return str(stored.scalar_one())
