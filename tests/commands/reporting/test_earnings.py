"""/earnings promises only money that is there (issue 16, bug 13)."""

from __future__ import annotations

from datetime import timedelta

from storage import Database
from tests.conftest import Chat, Clock
from tests.core_seed import add_conversion


async def test_no_held_promise_when_nothing_is_held(
    manager: Chat, alice: Chat, database: Database, clock: Clock
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await alice("/join shop")
    # Approved inside the holding period, but it earned nothing (say, a repeat customer).
    await add_conversion(
        database,
        "alice",
        "shop",
        at=clock.now - timedelta(days=1),
        commission=0,
        status="approved",
    )
    reply = await alice("/earnings")
    assert reply.table is not None
    assert reply.table.rows == (("shop", *(["0.00 USD"] * 5)),)
    assert {f.name: f.value for f in reply.fields}["Next payout"] == "shop: nothing due"
    # With held money the date is promised, from the oldest conversion that earned some.
    await add_conversion(
        database,
        "alice",
        "shop",
        at=clock.now - timedelta(hours=2),
        commission=700,
        status="approved",
    )
    fields = {f.name: f.value for f in (await alice("/earnings")).fields}
    assert fields["Next payout"] == "shop: held commission becomes payable from 2026-12-18"
