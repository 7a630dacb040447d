"""Tier promotions posted publicly as the leaderboard visibility allows, and one recorded
change (and one message) when two approvals evaluate the same standing at once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import func, select

from commands.rewards import tiers
from commands.tracking.conversions import Outcome, TrackingRules, record_conversion
from storage import Database
from storage.rewards import Tier
from storage.schema import outbox, tier_history
from tests.conftest import Chat, Clock
from tests.tracking_support import Seeded, seed

RULES = TrackingRules(announce_targets=(("console", "news"),))


async def convert(
    database: Database, seeded: Seeded, at: datetime, txn: str, status: str = "approved"
) -> Outcome:
    fields = {"code": seeded.link.code, "txn_id": txn, "amount": "100", "status": status}
    return await record_conversion(database, seeded.program, fields, now=at, rules=RULES)


async def public_post(database: Database, seeded: Seeded, tier: str, at: datetime) -> str | None:
    key = f"tier:{seeded.affiliate.id}:{seeded.program.id}:{tier}:{at.isoformat()}"
    async with database.read() as store:
        post = await store.outbox.by_key(f"{key}:public:console:chat:news")
    return None if post is None else str(post["payload"]["text"])


async def test_promotions_are_public_under_the_leaderboard_name_demotions_are_not(
    database: Database, clock: Clock, manager: Chat, alice: Chat
) -> None:
    seeded = await seed(database)
    await manager("/tier set shop Silver 1")
    await manager("/tier set shop Gold 2")
    first = clock()
    await convert(database, seeded, first, "A")
    assert await public_post(database, seeded, "Silver", first) == (
        f"{seeded.affiliate.display_name} reached Silver in Shop!"
    )
    await alice("/settings alias Ace")
    await alice("/settings visibility alias")
    clock.advance(minutes=1)
    second = clock()
    await convert(database, seeded, second, "B")
    assert await public_post(database, seeded, "Gold", second) == "Ace reached Gold in Shop!"
    # A demotion is told privately only.
    clock.advance(minutes=1)
    third = clock()
    await convert(database, seeded, third, "B", "reversed")
    async with database.read() as store:
        state = await store.rewards.tier_at(seeded.affiliate.id, seeded.program.id, third)
        private = await store.outbox.by_key(
            f"tier:{seeded.affiliate.id}:{seeded.program.id}:Silver:{third.isoformat()}"
            ":console:user:alice"
        )
    assert state is not None
    assert state.tier == "Silver"
    assert private is not None
    assert await public_post(database, seeded, "Silver", third) is None
    # Hidden affiliates are never posted about, even on a promotion.
    await alice("/settings visibility hidden")
    clock.advance(minutes=1)
    fourth = clock()
    await convert(database, seeded, fourth, "C")
    async with database.read() as store:
        again = await store.rewards.tier_at(seeded.affiliate.id, seeded.program.id, fourth)
    assert again is not None
    assert again.tier == "Gold"
    assert await public_post(database, seeded, "Gold", fourth) is None


async def test_without_announcement_targets_nothing_is_posted(
    database: Database, clock: Clock, manager: Chat
) -> None:
    seeded = await seed(database)
    await manager("/tier set shop Silver 1")
    fields = {"code": seeded.link.code, "txn_id": "A", "amount": "100", "status": "approved"}
    await record_conversion(database, seeded.program, fields, now=clock(), rules=TrackingRules())
    async with database.read() as store:
        state = await store.rewards.tier_at(seeded.affiliate.id, seeded.program.id, clock())
    assert state is not None
    assert state.tier == "Silver"
    assert await public_post(database, seeded, "Silver", clock()) is None


async def test_a_standing_is_followed_by_one_recorded_change(
    database: Database, clock: Clock, manager: Chat
) -> None:
    seeded = await seed(database)
    await manager("/tier set shop Silver 1")
    silver = Tier(0, seeded.program.id, "Silver", 1, 90, 0, 0)
    aff, program = seeded.affiliate.id, seeded.program.id
    async with database.transaction() as store:
        assert await store.rewards.record_tier(aff, program, silver, at=clock(), follows=None)
    async with database.transaction() as store:
        # Another evaluation that also saw "no tier yet" records nothing.
        assert not await store.rewards.record_tier(aff, program, silver, at=clock(), follows=None)
        state = await store.rewards.tier_at(aff, program, clock())
        assert state is not None
        assert await store.rewards.record_tier(aff, program, None, at=clock(), follows=state)


async def test_simultaneous_evaluations_record_and_announce_a_tier_change_once(
    database: Database, clock: Clock, manager: Chat
) -> None:
    seeded = await seed(database)
    await convert(database, seeded, clock(), "A")
    await convert(database, seeded, clock(), "B")
    # The tier arrives after the conversions, so the next evaluations both find a change.
    await manager("/tier set shop Silver 2")
    clock.advance(minutes=1)
    first = clock()
    second = first + timedelta(seconds=1)

    async def evaluate(at: datetime) -> None:
        async with database.transaction() as store:
            await tiers.evaluate_tier(
                store, seeded.program, seeded.affiliate.id, at, announce=RULES.announce_targets
            )

    await asyncio.gather(evaluate(first), evaluate(second))
    async with database.writing() as connection:
        changes = (
            await connection.execute(select(func.count()).select_from(tier_history))
        ).scalar_one()
        messages = (
            await connection.execute(
                select(func.count())
                .select_from(outbox)
                .where(outbox.c.dedupe_key.like(f"tier:{seeded.affiliate.id}:%"))
            )
        ).scalar_one()
    assert changes == 1
    assert messages == 2  # one private message and one public post
