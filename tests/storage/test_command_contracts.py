"""Contracts of the storage the core commands rely on, on every engine, including races."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from storage import Conflict, Database
from storage.programs import Commission, NewProgram
from storage.schema import conversions

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


async def _affiliate(database: Database, user: str) -> int:
    async with database.transaction() as store:
        return (await store.affiliates.ensure_for_identity("console", user, user, now=NOW)).id


async def test_a_connect_code_is_redeemed_once_even_when_raced(database: Database) -> None:
    owner = await _affiliate(database, "ann")
    async with database.transaction() as store:
        await store.connect.issue(
            owner, "ABCD2345", now=NOW, expires_at=NOW + timedelta(minutes=10)
        )

    async def redeem() -> int | None:
        async with database.transaction() as store:
            return await store.connect.redeem("abcd2345", now=NOW + timedelta(minutes=1))

    results = await asyncio.gather(*(redeem() for _ in range(4)))
    assert sorted(results, key=str) == sorted([owner, None, None, None], key=str)


async def test_an_expired_or_replaced_code_does_not_work(database: Database) -> None:
    owner = await _affiliate(database, "ann")
    async with database.transaction() as store:
        await store.connect.issue(
            owner, "AAAA2222", now=NOW, expires_at=NOW + timedelta(minutes=10)
        )
        await store.connect.issue(
            owner, "BBBB3333", now=NOW, expires_at=NOW + timedelta(minutes=10)
        )
    async with database.transaction() as store:
        assert await store.connect.redeem("AAAA2222", now=NOW) is None
        assert await store.connect.redeem("BBBB3333", now=NOW + timedelta(minutes=10)) is None


async def test_a_payout_never_settles_a_conversion_that_changed(database: Database) -> None:
    affiliate = await _affiliate(database, "ann")
    async with database.transaction() as store:
        program = await store.programs.add(
            NewProgram(
                "shop",
                "Shop",
                "https://s.example/",
                "USD",
                Commission("percent", 1000, "USD", NOW),
            ),
            now=NOW,
            actor="t",
        )
    async with database.writing() as connection:
        ids = []
        for number, status in enumerate(("approved", "reversed")):
            result = await connection.execute(
                conversions.insert().values(
                    program_id=program.id,
                    affiliate_id=affiliate,
                    txn_id=f"t{number}",
                    amount_minor=1000,
                    currency="USD",
                    commission_minor=100,
                    status=status,
                    occurred_at=NOW - timedelta(days=60),
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            ids.append(int(key[0]))
    with pytest.raises(Conflict):
        async with database.transaction() as store:
            await store.payouts.record(
                affiliate, 200, "USD", ids, reference=None, actor="t", now=NOW
            )
    async with database.read() as store:
        assert await store.payouts.history() == []
        balances = await store.payouts.balances(now=NOW)
    assert [(b.payable_minor, b.paid_minor, b.reversed_minor) for b in balances] == [(100, 0, 100)]
    async with database.transaction() as store:
        payout = await store.payouts.record(
            affiliate, 100, "USD", ids[:1], reference="R1", actor="t", now=NOW
        )
    with pytest.raises(Conflict):
        async with database.transaction() as store:
            await store.payouts.record(
                affiliate, 100, "USD", ids[:1], reference="R2", actor="t", now=NOW
            )
    async with database.read() as store:
        assert [p.id for p in await store.payouts.history(affiliate)] == [payout.id]


async def test_alias_uniqueness_is_enforced_by_the_database(database: Database) -> None:
    ann = await _affiliate(database, "ann")
    ben = await _affiliate(database, "ben")
    async with database.transaction() as store:
        await store.affiliates.set_preferences(ann, alias="Ace")
    with pytest.raises(Conflict):
        async with database.transaction() as store:
            await store.affiliates.set_preferences(ben, alias="Ace")
    with pytest.raises(ValueError, match="not a preference"):
        async with database.transaction() as store:
            await store.affiliates.set_preferences(ben, status="suspended")
