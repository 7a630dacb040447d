"""Storage contract tests: the uniqueness rules hold on every engine, even under races."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from storage import Conflict, Database
from storage.outbox import OutgoingMessage
from storage.programs import Commission, NewProgram
from storage.schema import conversions, schedule_runs, schedules

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


def new_program(slug: str = "shop") -> NewProgram:
    return NewProgram(
        slug=slug,
        name="Shop",
        destination_url="https://shop.example/",
        currency="USD",
        commission=Commission("percent", 1000, "USD", NOW),
    )


async def test_program_slug_is_unique(database: Database) -> None:
    async with database.transaction() as store:
        await store.programs.add(new_program(), now=NOW, actor="t")
    with pytest.raises(Conflict):
        async with database.transaction() as store:
            await store.programs.add(new_program(), now=NOW, actor="t")
    async with database.read() as store:
        assert [p.slug for p in await store.programs.list()] == ["shop"]


async def test_commission_history_picks_rate_in_force(database: Database) -> None:
    async with database.transaction() as store:
        program = await store.programs.add(new_program(), now=NOW, actor="t")
        later = Commission("percent", 1500, "USD", NOW + timedelta(days=7))
        await store.programs.set_commission(program.id, later, now=NOW, actor="t")
    async with database.read() as store:
        before = await store.programs.commission_at(program.id, NOW + timedelta(days=6))
        after = await store.programs.commission_at(program.id, NOW + timedelta(days=7))
        none = await store.programs.commission_at(program.id, NOW - timedelta(seconds=1))
    assert before is not None
    assert before.value == 1000
    assert after is not None
    assert after.value == 1500
    assert none is None


async def test_identity_maps_to_one_affiliate_even_when_raced(database: Database) -> None:
    async def first_contact() -> int:
        async with database.transaction() as store:
            affiliate = await store.affiliates.ensure_for_identity(
                "telegram", "42", "Ann", now=NOW
            )
            return affiliate.id

    ids = await asyncio.gather(*(first_contact() for _ in range(5)))
    assert len(set(ids)) == 1
    async with database.read() as store:
        identities = await store.affiliates.identities_of(ids[0])
    assert [(i.platform, i.platform_user_id) for i in identities] == [("telegram", "42")]


async def test_link_code_is_stable_per_program_and_campaign(database: Database) -> None:
    async with database.transaction() as store:
        program = await store.programs.add(new_program(), now=NOW, actor="t")
        affiliate = await store.affiliates.ensure_for_identity("console", "a", "A", now=NOW)

    async def ensure(campaign: str) -> str:
        async with database.transaction() as store:
            return (await store.links.ensure(affiliate.id, program.id, campaign, now=NOW)).code

    plain = await asyncio.gather(*(ensure("") for _ in range(4)))
    tagged = await ensure("youtube")
    assert len(set(plain)) == 1
    assert tagged != plain[0]
    async with database.read() as store:
        target = await store.links.target(plain[0])
    assert target is not None
    assert target.link.affiliate_id == affiliate.id
    assert target.destination_url == "https://shop.example/"


async def test_membership_join_is_idempotent(database: Database) -> None:
    async with database.transaction() as store:
        program = await store.programs.add(new_program(), now=NOW, actor="t")
        affiliate = await store.affiliates.ensure_for_identity("console", "a", "A", now=NOW)
        first, created = await store.affiliates.join(affiliate.id, program.id, "approved", now=NOW)
        again, created_again = await store.affiliates.join(
            affiliate.id, program.id, "pending", now=NOW
        )
    assert created
    assert not created_again
    assert first.status == again.status == "approved"


async def test_conversion_is_unique_per_program_and_transaction(database: Database) -> None:
    async with database.transaction() as store:
        program = await store.programs.add(new_program(), now=NOW, actor="t")
    row = {
        "program_id": program.id,
        "txn_id": "T-1",
        "amount_minor": 1000,
        "currency": "USD",
        "commission_minor": 100,
        "status": "pending",
        "occurred_at": NOW,
        "created_at": NOW,
        "updated_at": NOW,
    }
    async with database.writing() as connection:
        await connection.execute(conversions.insert().values(**row))
    with pytest.raises(IntegrityError):
        async with database.writing() as connection:
            await connection.execute(conversions.insert().values(**row))
    # The same transaction id in another program is a different conversion.
    async with database.transaction() as store:
        other = await store.programs.add(new_program("other"), now=NOW, actor="t")
    async with database.writing() as connection:
        await connection.execute(conversions.insert().values(**{**row, "program_id": other.id}))


async def test_conversion_status_must_be_known(database: Database) -> None:
    async with database.transaction() as store:
        program = await store.programs.add(new_program(), now=NOW, actor="t")
    with pytest.raises(IntegrityError):
        async with database.writing() as connection:
            await connection.execute(
                conversions.insert().values(
                    program_id=program.id,
                    txn_id="T",
                    amount_minor=1,
                    currency="USD",
                    commission_minor=0,
                    status="lost",
                    occurred_at=NOW,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )


async def test_outbox_dedupe_key_queues_once(database: Database) -> None:
    message = OutgoingMessage("announce:1:console:user:a", "console", "user", "a", {"text": "hi"})
    async with database.transaction() as store:
        assert await store.outbox.enqueue([message, message], now=NOW) == 1
    async with database.transaction() as store:
        assert await store.outbox.enqueue([message], now=NOW) == 0
        row = await store.outbox.by_key(message.dedupe_key)
    assert row is not None
    assert row["status"] == "queued"
    assert row["payload"] == {"text": "hi"}


async def test_schedule_run_is_unique_per_period(database: Database) -> None:
    async with database.writing() as connection:
        result = await connection.execute(
            schedules.insert().values(
                kind="leaderboard",
                cron="0 9 * * 1",
                timezone="UTC",
                targets=[],
                period="last-week",
                created_at=NOW,
            )
        )
        schedule_id = result.inserted_primary_key[0]  # type: ignore[index]
        await connection.execute(
            schedule_runs.insert().values(
                schedule_id=schedule_id, period_key="2026-W47", fired_at=NOW
            )
        )
    with pytest.raises(IntegrityError):
        async with database.writing() as connection:
            await connection.execute(
                schedule_runs.insert().values(
                    schedule_id=schedule_id, period_key="2026-W47", fired_at=NOW
                )
            )


async def test_naive_datetimes_are_refused(database: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        async with database.transaction() as store:
            await store.affiliates.ensure_for_identity(
                "console",
                "x",
                "X",
                now=datetime(2026, 1, 1),  # noqa: DTZ001
            )


async def test_times_come_back_aware_utc(database: Database) -> None:
    berlin = NOW.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    async with database.transaction() as store:
        affiliate = await store.affiliates.ensure_for_identity("console", "x", "X", now=berlin)
    assert affiliate.created_at == NOW
    assert affiliate.created_at.tzinfo is not None
