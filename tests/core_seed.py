"""Test data for the core command tests: clicks and conversions written straight into the
tables (the tracking server and postbacks that normally write them are tested elsewhere)."""

from __future__ import annotations

import io
import itertools
from datetime import datetime

from bot.adapters.console import ConsoleAdapter
from commands.core.dispatcher import Dispatcher
from storage import Database
from storage.schema import clicks, conversions

_serial = itertools.count(1)


async def link_id(database: Database, platform: str, user: str, program: str) -> int:
    """The id of the affiliate's plain link for a program (created if needed)."""
    async with database.transaction() as store:
        affiliate = await store.affiliates.by_identity(platform, user)
        found = await store.programs.by_slug(program)
        assert affiliate is not None
        assert found is not None
        link = await store.links.ensure(affiliate.id, found.id, "", now=found.created_at)
        return link.id


async def add_clicks(
    database: Database, user: str, program: str, count: int, at: datetime
) -> None:
    link = await link_id(database, "console", user, program)
    async with database.writing() as connection:
        await connection.execute(
            clicks.insert(),
            [
                {
                    "click_id": f"c{next(_serial)}",
                    "link_id": link,
                    "occurred_at": at,
                    "ip_hash": "h",
                    "user_agent_family": "test",
                }
                for _ in range(count)
            ],
        )


async def add_conversion(
    database: Database,
    user: str | None,
    program: str,
    *,
    at: datetime,
    amount: int = 10_000,
    commission: int = 1_000,
    status: str = "pending",
    customer: str | None = None,
    over_cap: bool = False,
) -> int:
    """A conversion for ``user``'s affiliate (``None``: a customer who came directly)."""
    async with database.transaction() as store:
        found = await store.programs.by_slug(program)
        assert found is not None
        affiliate_id = None
        if user is not None:
            affiliate = await store.affiliates.by_identity("console", user)
            assert affiliate is not None
            affiliate_id = affiliate.id
    async with database.writing() as connection:
        result = await connection.execute(
            conversions.insert().values(
                program_id=found.id,
                affiliate_id=affiliate_id,
                txn_id=f"t{next(_serial)}",
                amount_minor=amount,
                currency=found.currency,
                commission_minor=commission,
                status=status,
                over_cap=over_cap,
                customer_id=customer,
                occurred_at=at,
                created_at=at,
                updated_at=at,
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


async def console(dispatcher: Dispatcher, lines: str, *, user: str, manager: bool = False) -> str:
    """Pipe command lines through the real console adapter and return what it printed."""
    stdout = io.StringIO()
    adapter = ConsoleAdapter(
        dispatcher, user=user, manager=manager, stdin=io.StringIO(lines), stdout=stdout
    )
    await adapter.run()
    return stdout.getvalue()
