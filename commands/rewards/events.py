"""The one hook the tracking path calls after a conversion is recorded or changes status.

Points, tier standing, milestone badges and signup qualification are all evaluated here,
incrementally, for the one affiliate and program the event touches, inside the same
transaction, so rewards exist if and only if the conversion change committed.
"""

from __future__ import annotations

from datetime import datetime

from commands.rewards import badges, points
from commands.rewards import signups as signup_rewards
from commands.rewards.tiers import evaluate_tier
from storage import Store
from storage.conversions import Conversion, ConversionStatus
from storage.programs import Program
from storage.rewards import COUNTED_KINDS, RewardDefaults


async def on_conversion(
    store: Store,
    program: Program,
    conversion: Conversion,
    previous: ConversionStatus | None,
    *,
    defaults: RewardDefaults,
    now: datetime,
    announce: tuple[tuple[str, str], ...] = (),
) -> None:
    """Apply what a new status of ``conversion`` (from ``previous``) earns or takes back.

    ``announce`` is where a tier promotion is posted publicly (none: not posted).
    """
    if conversion.affiliate_id is None:
        return
    await points.on_status(store, conversion, previous, defaults=defaults, now=now)
    if conversion.kind not in COUNTED_KINDS:
        return
    approved = conversion.status == "approved" and previous in (None, "pending")
    clawed_back = conversion.status == "reversed" and previous in ("approved", "paid")
    if approved or clawed_back:
        await evaluate_tier(store, program, conversion.affiliate_id, now, announce=announce)
    if approved and not conversion.over_cap and not conversion.while_suspended:
        await badges.check_milestones(store, conversion.affiliate_id, defaults=defaults, now=now)
        await signup_rewards.qualify_by_conversion(
            store, program, conversion, defaults=defaults, now=now
        )
