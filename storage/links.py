"""Referral links: one stable code per affiliate, program and campaign."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import from_row, insert_ignoring_conflicts
from storage.schema import affiliates, links, programs

CODE_ALPHABET = string.ascii_letters + string.digits
CODE_LENGTH = 8  # 62**8 ≈ 2e14: collisions are rare enough to retry, and codes stay short.


def new_code() -> str:
    """An unguessable link code, safe in URLs and in Telegram deep-link payloads."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


@dataclass(frozen=True, slots=True)
class Link:
    id: int
    code: str
    affiliate_id: int
    program_id: int
    campaign: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """What a redirect needs to know about a code, read in one query."""

    link: Link
    program_slug: str
    destination_url: str
    fallback_url: str | None
    program_status: str
    affiliate_status: str


class LinkRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def ensure(
        self, affiliate_id: int, program_id: int, campaign: str, *, now: datetime
    ) -> Link:
        """The affiliate's link for this program and campaign, created the first time.

        Idempotent under concurrency: the unique (affiliate, program, campaign) constraint
        decides, and a code collision is retried with a new code.
        """
        for _ in range(8):
            existing = await self._find(affiliate_id, program_id, campaign)
            if existing is not None:
                return existing
            await self._connection.execute(
                insert_ignoring_conflicts(self._connection, links).values(
                    code=new_code(),
                    affiliate_id=affiliate_id,
                    program_id=program_id,
                    campaign=campaign,
                    created_at=now,
                )
            )
        raise RuntimeError("could not allocate a unique link code")  # pragma: no cover

    async def _find(self, affiliate_id: int, program_id: int, campaign: str) -> Link | None:
        row = (
            await self._connection.execute(
                select(links)
                .where(links.c.affiliate_id == affiliate_id)
                .where(links.c.program_id == program_id)
                .where(links.c.campaign == campaign)
            )
        ).first()
        return from_row(Link, row) if row else None

    async def of_affiliate(self, affiliate_id: int) -> list[Link]:
        rows = await self._connection.execute(
            select(links).where(links.c.affiliate_id == affiliate_id).order_by(links.c.id)
        )
        return [from_row(Link, row) for row in rows]

    async def target(self, code: str) -> LinkTarget | None:
        """Resolve a code to its link, destination and the states that gate the redirect."""
        row = (
            await self._connection.execute(
                select(
                    links,
                    programs.c.slug.label("program_slug"),
                    programs.c.destination_url,
                    programs.c.fallback_url,
                    programs.c.status.label("program_status"),
                    affiliates.c.status.label("affiliate_status"),
                )
                .join(programs, programs.c.id == links.c.program_id)
                .join(affiliates, affiliates.c.id == links.c.affiliate_id)
                .where(links.c.code == code)
            )
        ).first()
        if row is None:
            return None
        return from_row(LinkTarget, row, link=from_row(Link, row))
