"""Fraud flags group: repeats of one rule for one affiliate in one program join the open
flag (counted, first and last seen), on every engine and under concurrent raisers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from storage import Database, Store
from storage.fraud import NewFlag
from storage.migrate import head_revision, upgrade
from storage.programs import Commission, NewProgram
from storage.schema import fraud_flags
from tests.storage.test_migrations import _with_time

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


async def setup(store: Store) -> tuple[int, int, int]:
    """A program and two affiliates; their ids."""
    program = await store.programs.add(
        NewProgram(
            slug="shop",
            name="Shop",
            destination_url="https://shop.example/",
            currency="USD",
            commission=Commission("percent", 1000, "USD", NOW),
        ),
        now=NOW,
        actor="t",
    )
    ann = await store.affiliates.ensure_for_identity("telegram", "1", "Ann", now=NOW)
    bob = await store.affiliates.ensure_for_identity("telegram", "2", "Bob", now=NOW)
    return program.id, ann.id, bob.id


def self_ip(key: str, program_id: int, affiliate_id: int, rule: str = "self-ip") -> NewFlag:
    return NewFlag(f"{rule}:{key}", rule, program_id, affiliate_id, None, {"txn_id": key})


async def test_repeats_join_the_open_flag_until_it_is_settled(database: Database) -> None:
    async with database.transaction() as store:
        program, ann, bob = await setup(store)
        first = await store.fraud.raise_flag(self_ip("T-1", program, ann), now=NOW)
        assert first is not None
        assert first.new
        later = NOW + timedelta(hours=2)
        second = await store.fraud.raise_flag(self_ip("T-2", program, ann), now=later)
        # An occurrence reported late does not move the last-seen time back.
        third = await store.fraud.raise_flag(
            self_ip("T-3", program, ann), now=NOW + timedelta(hours=1)
        )
        assert second is not None
        assert third is not None
        assert (second.flag_id, second.new) == (first.flag_id, False)
        assert (third.flag_id, third.new) == (first.flag_id, False)
        # The same traffic again counts nothing, whichever flag it joined.
        assert await store.fraud.raise_flag(self_ip("T-2", program, ann), now=later) is None
        assert await store.fraud.raise_flag(self_ip("T-1", program, ann), now=later) is None
        # Another affiliate, or another rule, is another flag.
        other = await store.fraud.raise_flag(self_ip("T-4", program, bob), now=NOW)
        rule = await store.fraud.raise_flag(self_ip("T-5", program, ann, "too-fast"), now=NOW)
        assert other is not None
        assert other.new
        assert rule is not None
        assert rule.new
        flag = await store.fraud.get(first.flag_id)
        assert flag is not None
        assert (flag.occurrences, flag.first_seen_at, flag.seen_at) == (3, NOW, later)
        assert flag.evidence == {"txn_id": "T-1"}  # what the alert said
        assert await store.fraud.keys_of(first.flag_id) == [
            "self-ip:T-1",
            "self-ip:T-2",
            "self-ip:T-3",
        ]
        assert await store.fraud.open_flag_id("self-ip:T-3") == first.flag_id
        # Settled: the rule's next firing is a new flag (and a new alert), old keys stay.
        assert await store.fraud.decide(first.flag_id, "approved", by="boss", now=later)
        assert await store.fraud.open_flag_id("self-ip:T-3") is None
        assert await store.fraud.raise_flag(self_ip("T-2", program, ann), now=later) is None
        fresh = await store.fraud.raise_flag(self_ip("T-6", program, ann), now=later)
        assert fresh is not None
        assert fresh.new
        assert fresh.flag_id != first.flag_id
        open_flags = await store.fraud.open_flags(since=None, program_id=program)
    assert sorted(f.id for f in open_flags) == sorted([other.flag_id, rule.flag_id, fresh.flag_id])


async def test_flags_without_an_affiliate_are_never_grouped(database: Database) -> None:
    async with database.transaction() as store:
        program, _, _ = await setup(store)
        a = await store.fraud.raise_flag(NewFlag("x:1", "x", program, None, None, {}), now=NOW)
        b = await store.fraud.raise_flag(NewFlag("x:2", "x", program, None, None, {}), now=NOW)
        assert a is not None
        assert b is not None
        assert a.new
        assert b.new
        assert a.flag_id != b.flag_id


async def test_concurrent_raisers_meet_on_one_open_flag(database: Database) -> None:
    async with database.transaction() as store:
        program, ann, _ = await setup(store)

    async def raise_one(n: int) -> bool:
        async with database.transaction() as store:
            raised = await store.fraud.raise_flag(self_ip(f"R-{n}", program, ann), now=NOW)
            assert raised is not None
            return raised.new

    news = await asyncio.gather(*(raise_one(n) for n in range(8)))
    assert sorted(news) == [False] * 7 + [True]
    async with database.read() as store:
        [flag] = await store.fraud.open_flags(since=None, program_id=None)
        assert flag.occurrences == 8
        assert len(await store.fraud.keys_of(flag.id)) == 8


async def test_existing_flags_are_grouped_by_the_migration(empty_database: Database) -> None:
    await upgrade(empty_database, "0010")
    async with empty_database.writing() as connection:
        for sql in (
            "INSERT INTO programs (slug, name, destination_url, currency, materials, settings, "
            "created_at, updated_at) VALUES ('shop', 'Shop', 'https://s.example/', 'USD', "
            "'{}', '{}', :now, :now)",
            "INSERT INTO affiliates (display_name, created_at) VALUES ('Ann', :now)",
        ):
            await connection.execute(_with_time(sql), {"now": NOW})
        for key, status in (("old:1", "rejected"), ("old:2", "open"), ("old:3", "open")):
            await connection.execute(
                _with_time(
                    "INSERT INTO fraud_flags (dedupe_key, rule, program_id, affiliate_id, "
                    "evidence, status, created_at) VALUES (:key, 'self-ip', 1, 1, '{}', "
                    ":status, :now)"
                ),
                {"now": NOW, "key": key, "status": status},
            )
    assert await upgrade(empty_database) == head_revision()
    async with empty_database.transaction() as store:
        groups = (
            await store.connection.execute(
                select(fraud_flags.c.dedupe_key, fraud_flags.c.group_key).order_by(
                    fraud_flags.c.id
                )
            )
        ).all()
        assert [tuple(row) for row in groups] == [
            ("old:1", None),
            ("old:2", "self-ip:1:1"),
            ("old:3", None),  # a second open duplicate stays as it was until reviewed
        ]
        assert await store.fraud.raise_flag(self_ip("1", 1, 1, "old"), now=NOW) is None
        joined = await store.fraud.raise_flag(self_ip("new", 1, 1), now=NOW)
        assert joined is not None
        assert (joined.flag_id, joined.new) == (2, False)
        flag = await store.fraud.get(2)
        assert flag is not None
        assert flag.occurrences == 2
