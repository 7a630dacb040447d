"""Test data for delivery, schedule and feedback tests: programs, affiliates, traffic.

Clicks and conversions are written straight into their tables (the tracking server that
records them in production is another component); everything else goes through the
repositories.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update

from storage import Database
from storage.programs import Commission, NewProgram
from storage.schema import affiliates, clicks, conversions

_serial = itertools.count(1)


@dataclass(frozen=True)
class Member:
    affiliate_id: int
    link_id: int
    program_id: int
    user_id: str


async def add_program(
    database: Database, now: datetime, slug: str = "shop", currency: str = "USD"
) -> int:
    async with database.transaction() as store:
        program = await store.programs.add(
            NewProgram(
                slug=slug,
                name=slug.title(),
                destination_url=f"https://{slug}.example/",
                currency=currency,
                commission=Commission("percent", 1000, currency, now),
            ),
            now=now,
            actor="test",
        )
    return program.id


async def add_member(
    database: Database,
    now: datetime,
    program_id: int,
    name: str,
    *,
    platform: str = "console",
    user_id: str | None = None,
    **settings: str,
) -> Member:
    """An affiliate with an account, an approved membership and a link.

    ``settings`` sets affiliate columns directly (visibility, alias, feedback, status).
    """
    user = user_id or name.lower()
    async with database.transaction() as store:
        affiliate = await store.affiliates.ensure_for_identity(platform, user, name, now=now)
        await store.affiliates.join(affiliate.id, program_id, "approved", now=now)
        link = await store.links.ensure(affiliate.id, program_id, "", now=now)
        if settings:
            await store.connection.execute(
                update(affiliates).where(affiliates.c.id == affiliate.id).values(**settings)
            )
    return Member(affiliate.id, link.id, program_id, user)


async def add_clicks(database: Database, member: Member, times: Iterable[datetime]) -> None:
    rows = [
        {
            "click_id": f"c{next(_serial)}",
            "link_id": member.link_id,
            "occurred_at": moment,
            "ip_hash": "x",
            "user_agent_family": "test",
        }
        for moment in times
    ]
    if rows:
        async with database.transaction() as store:
            await store.connection.execute(clicks.insert(), rows)


async def add_conversions(
    database: Database,
    member: Member,
    times: Iterable[datetime],
    *,
    commission_minor: int = 500,
    status: str = "approved",
    currency: str = "USD",
) -> None:
    rows = [
        {
            "program_id": member.program_id,
            "affiliate_id": member.affiliate_id,
            "link_id": member.link_id,
            "txn_id": f"t{next(_serial)}",
            "amount_minor": commission_minor * 10,
            "currency": currency,
            "commission_minor": commission_minor,
            "status": status,
            "occurred_at": moment,
            "created_at": moment,
            "updated_at": moment,
        }
        for moment in times
    ]
    if rows:
        async with database.transaction() as store:
            await store.connection.execute(conversions.insert(), rows)
