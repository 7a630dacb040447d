"""Manager money bonuses in the earnings ledger: /earnings, /payouts, /payout mark, export."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from commands.reporting.export import export_table
from storage import Conflict, Database
from tests.conftest import Chat, Clock
from tests.core_seed import add_conversion


async def test_bonuses_are_payable_at_once_and_paid_exactly_once(
    manager: Chat, alice: Chat, bob: Chat, database: Database, clock: Clock
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await manager("/program edit shop --min-payout 50")
    await alice("/join shop")
    await bob("/join shop")
    # Commission below the program's minimum is not payable on its own...
    oct1 = datetime(2026, 10, 1, tzinfo=UTC)
    await add_conversion(database, "alice", "shop", at=oct1, status="approved", commission=1000)
    assert (await manager("/payouts")).text == "Nobody is due a payout right now."
    # ...a manager bonus is payable at once (the commission still waits for its minimum).
    await manager("/reward alice 25 USD launch week")
    await manager("/reward bob 5 EUR helpful answers")
    due = await manager("/payouts")
    assert due.table is not None
    assert due.table.rows == (
        ("#1", "Alice", "", "USD", "25.00 USD", "bonus"),
        ("#2", "Bob", "", "EUR", "5.00 EUR", "bonus"),
    )
    exported = await export_table(database, "payouts", now=clock.now, zone=ZoneInfo("UTC"))
    assert exported.rows == (
        ("1", "Alice", "", "console:alice", "USD", "25.00", "bonus"),
        ("2", "Bob", "", "console:bob", "EUR", "5.00", "bonus"),
    )
    earnings = await alice("/earnings")
    assert earnings.table is not None
    assert earnings.table.rows == (
        ("shop", "0.00 USD", "0.00 USD", "10.00 USD", "0.00 USD", "0.00 USD"),
        ("bonus", "0.00 USD", "0.00 USD", "25.00 USD", "0.00 USD", "0.00 USD"),
    )
    assert {f.name: f.value for f in earnings.fields}["Next payout"] == (
        "shop: payable once the balance reaches 50.00 USD\n"
        "bonus: 25.00 USD is payable now; it goes out with the next payment run"
    )
    done = await manager("/payout mark alice 25 USD BONUS-1")
    assert done.text == (
        "Marked 25.00 USD as paid to #1 Alice (0 conversions, 1 bonus). They are told privately."
    )
    after = await alice("/earnings")
    assert after.table is not None
    assert after.table.rows[1] == (
        "bonus",
        "0.00 USD",
        "0.00 USD",
        "0.00 USD",
        "25.00 USD",
        "0.00 USD",
    )
    assert "has no payable balance" in (await manager("/payout mark alice 25 USD")).text
    async with database.read() as store:
        history = await store.payouts.history()
        note = await store.outbox.by_key(f"payout:{history[0].id}:console:user:alice")
        audit = (await store.audit.recent(1))[0]
    assert note is not None
    assert note["payload"]["text"] == "You were paid 25.00 USD for bonus. Thank you!"
    assert audit.after is not None
    assert audit.after["bonuses"] == 1
    # A bonus with released commission above the minimum is paid in one payout.
    await add_conversion(database, "alice", "shop", at=oct1, status="approved", commission=4500)
    await manager("/reward alice 1.50 USD")
    due = await manager("/payouts")
    assert due.table is not None
    assert due.table.rows[0] == ("#1", "Alice", "", "USD", "56.50 USD", "shop, bonus")
    paid = await manager("/payout mark alice 56.50")
    assert paid.text == (
        "Marked 56.50 USD as paid to #1 Alice (2 conversions, 1 bonus). They are told privately."
    )
    only_bob = await manager("/payouts")
    assert only_bob.table is not None
    assert [row[0] for row in only_bob.table.rows] == ["#2"]


async def test_a_bonus_cannot_be_settled_by_two_payouts(
    manager: Chat, alice: Chat, database: Database, clock: Clock
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await alice("/join shop")
    await manager("/reward alice 10 USD")
    async with database.read() as store:
        (totals,) = await store.payouts.bonuses()
    async with database.transaction() as store:
        await store.payouts.record(
            totals.affiliate_id,
            1000,
            "USD",
            [],
            reference=None,
            actor="test",
            now=clock.now,
            bonus_ids=totals.unpaid_ids,
        )
    with pytest.raises(Conflict):
        async with database.transaction() as store:
            await store.payouts.record(
                totals.affiliate_id,
                1000,
                "USD",
                [],
                reference=None,
                actor="test",
                now=clock.now,
                bonus_ids=totals.unpaid_ids,
            )
    async with database.read() as store:
        assert len(await store.payouts.history()) == 1
        (after,) = await store.payouts.bonuses()
    assert (after.unpaid_minor, after.paid_minor, after.unpaid_ids) == (0, 1000, ())
