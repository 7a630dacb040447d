"""Points and tiers through the real conversion path: earning, reversals taking points and
tier standing back, over-cap conversions earning nothing, and the tier bonus applying only
to conversions from the moment the tier was reached."""

from __future__ import annotations

from datetime import timedelta

from commands.tracking.conversions import Outcome, TrackingRules, record_conversion
from storage import Database
from storage.programs import Commission
from storage.rewards import RewardDefaults
from tests.conftest import Chat, Clock
from tests.tracking_support import EARLY, Seeded, seed

RULES = TrackingRules()


async def convert(
    database: Database,
    seeded: Seeded,
    clock: Clock,
    txn: str,
    status: str = "approved",
    **extra: str,
) -> Outcome:
    fields = {"code": seeded.link.code, "txn_id": txn, "amount": "100", "status": status, **extra}
    return await record_conversion(database, seeded.program, fields, now=clock(), rules=RULES)


async def points_of(database: Database, affiliate_id: int) -> int:
    async with database.read() as store:
        found = await store.rewards.ranking(None, None, {}, affiliate_id=affiliate_id)
    return found[0].value if found else 0


async def test_points_for_approved_conversions_and_reversals_take_them_back(
    database: Database, clock: Clock
) -> None:
    seeded = await seed(database)
    aff = seeded.affiliate.id
    await convert(database, seeded, clock, "A")  # approved at once: 10 points
    await convert(database, seeded, clock, "A")  # a repeat: nothing more
    assert await points_of(database, aff) == 10
    await convert(database, seeded, clock, "B", "pending")
    assert await points_of(database, aff) == 10  # pending earns nothing yet
    await convert(database, seeded, clock, "B", "approved")
    assert await points_of(database, aff) == 20
    await convert(database, seeded, clock, "C", "pending")
    await convert(database, seeded, clock, "C", "reversed")  # never approved: nothing
    assert await points_of(database, aff) == 20
    await convert(database, seeded, clock, "A", "reversed")  # a clawback takes them back
    await convert(database, seeded, clock, "A", "reversed")
    assert await points_of(database, aff) == 10
    await convert(database, seeded, clock, "B", "paid")
    await convert(database, seeded, clock, "B", "reversed")
    assert await points_of(database, aff) == 0


async def test_rules_are_per_program_data(database: Database, clock: Clock, manager: Chat) -> None:
    seeded = await seed(database)
    assert (await manager("/reward_rules shop points-conversion 25")).text == (
        "Changed points-conversion of shop."
    )
    bad = await manager("/reward_rules shop points-conversion lots")
    assert "whole number" in bad.text
    await convert(database, seeded, clock, "A")
    assert await points_of(database, seeded.affiliate.id) == 25
    shown = await manager("/reward_rules shop")
    assert ("Points per conversion", "25") in [(f.name, f.value) for f in shown.fields]
    async with database.read() as store:
        rules = await store.rewards.rules(seeded.program.id, RewardDefaults())
        audit = await store.audit.recent()
    assert rules.points_conversion == 25
    assert audit[0].action == "rewards.rules"


async def test_over_cap_conversions_earn_no_points(
    database: Database, clock: Clock, manager: Chat
) -> None:
    seeded = await seed(database)
    assert "1 conversion" in (await manager("/cap set shop 1 month conversions pause")).text
    await convert(database, seeded, clock, "A")
    over = await convert(database, seeded, clock, "B")
    assert over.body["over_cap"] is True
    assert await points_of(database, seeded.affiliate.id) == 10


async def test_tier_bonus_applies_from_the_tier_time_and_reversals_take_it_back(
    database: Database, clock: Clock, manager: Chat
) -> None:
    seeded = await seed(database)  # 10% of each sale
    reply = await manager("/tier set shop Silver 2 90 2%")
    assert reply.text == "Tier Silver of shop saved."
    assert (await convert(database, seeded, clock, "A")).body["commission"] == "10.00"
    reached_at = clock()
    # The second approval reaches Silver; it was made before the tier, so no bonus.
    assert (await convert(database, seeded, clock, "B")).body["commission"] == "10.00"
    async with database.read() as store:
        state = await store.rewards.tier_at(seeded.affiliate.id, seeded.program.id, clock())
        message = await store.outbox.by_key(
            f"tier:{seeded.affiliate.id}:{seeded.program.id}:Silver:{reached_at.isoformat()}"
            ":console:user:alice"
        )
    assert state is not None
    assert (state.tier, state.bonus_bp) == ("Silver", 200)
    assert message is not None
    assert message["payload"]["title"] == "New tier!"
    clock.advance(hours=1)
    # A conversion reported late, from before the tier was reached: the base rate.
    earlier = (reached_at - timedelta(minutes=5)).isoformat()
    late = await convert(database, seeded, clock, "LATE", occurred_at=earlier)
    assert late.body["commission"] == "10.00"
    assert (await convert(database, seeded, clock, "C")).body["commission"] == "12.00"
    # Reversing two approvals drops the standing below Silver (3 - 2 = 1 … plus LATE = 2).
    await convert(database, seeded, clock, "A", "reversed")
    await convert(database, seeded, clock, "B", "reversed")
    await convert(database, seeded, clock, "LATE", "reversed")
    clock.advance(minutes=1)
    assert (await convert(database, seeded, clock, "D")).body["commission"] == "10.00"
    async with database.read() as store:
        between = clock() - timedelta(seconds=30)
        dropped = await store.rewards.tier_at(seeded.affiliate.id, seeded.program.id, between)
        again = await store.rewards.tier_at(seeded.affiliate.id, seeded.program.id, clock())
        conversion_c = await store.conversions.by_txn(seeded.program.id, "C")
    assert dropped is not None
    assert dropped.tier is None
    assert again is not None
    assert again.tier == "Silver"
    assert conversion_c is not None
    assert conversion_c.commission_minor == 1200


async def test_flat_bonus_and_mismatched_bonus_refused(
    database: Database, clock: Clock, manager: Chat
) -> None:
    seeded = await seed(database, slug="app", commission=Commission("flat", 500, "USD", EARLY))
    refused = await manager("/tier set app Gold 1 30 2%")
    assert "flat commission" in refused.text
    assert (await manager("/tier set app Gold 1 30 1 USD")).text == "Tier Gold of app saved."
    assert (await convert(database, seeded, clock, "A")).body["commission"] == "5.00"
    clock.advance(seconds=1)
    assert (await convert(database, seeded, clock, "B")).body["commission"] == "6.00"
    assert (await manager("/tier remove app Gold")).text == "Tier Gold of app removed."
    assert "no tier called Gold" in (await manager("/tier remove app Gold")).text
