"""A tier that needs no conversions (threshold 0) is in force from the start: shown by
/rewards before any conversion and paying its bonus on the first (issue 16, bug 13)."""

from __future__ import annotations

from storage import Database
from tests.commands.rewards.test_points_tiers import convert
from tests.conftest import Chat, Clock
from tests.tracking_support import seed


async def test_a_zero_threshold_tier_holds_from_the_start(
    database: Database, clock: Clock, manager: Chat, alice: Chat
) -> None:
    seeded = await seed(database)
    await manager("/tier set shop Bronze 0 0 1%")
    await manager("/tier set shop Silver 3 90 2%")
    fields = {f.name: f.value for f in (await alice("/rewards")).fields}
    assert fields["Tiers"] == (
        "Shop: Bronze (+1% commission in force); 3 more approved conversions in 90 days to Silver"
    )
    first = await convert(database, seeded, clock, "A")
    # 10% base + 1% Bronze of a 100.00 sale: the first conversion earns the bonus too.
    assert first.body["commission"] == "11.00"
    fields = {f.name: f.value for f in (await alice("/rewards")).fields}
    assert fields["Tiers"] == (
        "Shop: Bronze (+1% commission in force); 2 more approved conversions in 90 days to Silver"
    )
