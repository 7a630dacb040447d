"""Where affiliates were seen: the salted IP hashes of their own devices.

The bot learns an affiliate's address only when they open their link's private check page;
each (affiliate, hash) pair is one row whose ``last_seen_at`` moves forward on every visit.
Self-referral by IP compares a conversion's visitor hash with these rows (one indexed read).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import from_row
from storage.schema import affiliate_sightings


@dataclass(frozen=True, slots=True)
class Sighting:
    """An affiliate seen at one salted IP hash, from ``first_seen_at`` to ``last_seen_at``."""

    affiliate_id: int
    ip_hash: str
    first_seen_at: datetime
    last_seen_at: datetime


class SightingRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def record(self, affiliate_id: int, ip_hash: str, *, now: datetime) -> None:
        """Remember that the affiliate was at ``ip_hash`` now (one upsert; concurrent
        visits settle on one row, and ``last_seen_at`` never moves backwards)."""
        postgres = self._connection.dialect.name == "postgresql"
        dialect = postgresql if postgres else sqlite
        statement = dialect.insert(affiliate_sightings).values(
            affiliate_id=affiliate_id, ip_hash=ip_hash, first_seen_at=now, last_seen_at=now
        )
        later = func.greatest if postgres else func.max  # SQLite's two-argument max()
        statement = statement.on_conflict_do_update(
            index_elements=["affiliate_id", "ip_hash"],
            set_={
                "last_seen_at": later(
                    affiliate_sightings.c.last_seen_at, statement.excluded.last_seen_at
                )
            },
        )
        await self._connection.execute(statement)

    async def find(self, affiliate_id: int, ip_hash: str) -> Sighting | None:
        """The affiliate's sighting at ``ip_hash``, or ``None`` if never seen there."""
        row = (
            await self._connection.execute(
                select(affiliate_sightings)
                .where(affiliate_sightings.c.affiliate_id == affiliate_id)
                .where(affiliate_sightings.c.ip_hash == ip_hash)
            )
        ).first()
        if row is None:
            return None
        return from_row(Sighting, row)
