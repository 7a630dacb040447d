"""Points: earned when a conversion is approved, taken back when it is reversed.

The ledger keys each row by its reason (``conversion:<id>:approved``), so a repeated event
never doubles points; a reversal writes the negative of exactly what was earned, whatever
the rules say by then. Over-cap and reversed conversions, and those reported while the
affiliate was suspended, earn nothing. Clicks earn points
by count at read time (see ``RewardRepository.ranking``), because the tracking server
writes clicks in bulk.
"""

from __future__ import annotations

from datetime import datetime

from storage import Store
from storage.conversions import Conversion, ConversionStatus
from storage.rewards import RewardDefaults


def earn_reason(conversion_id: int) -> str:
    return f"conversion:{conversion_id}:approved"


async def on_status(
    store: Store,
    conversion: Conversion,
    previous: ConversionStatus | None,
    *,
    defaults: RewardDefaults,
    now: datetime,
) -> int:
    """Apply the points a status change brings; returns the change (0 for none)."""
    if conversion.affiliate_id is None:
        return 0
    if conversion.status == "approved" and previous in (None, "pending"):
        if conversion.over_cap or conversion.while_suspended:
            return 0
        rules = await store.rewards.rules(conversion.program_id, defaults)
        points = rules.points_signup if conversion.kind == "signup" else rules.points_conversion
        added = await store.rewards.add_points(
            conversion.affiliate_id,
            conversion.program_id,
            earn_reason(conversion.id),
            points,
            at=now,
        )
        return points if added else 0
    if conversion.status == "reversed" and previous in ("approved", "paid"):
        earned = await store.rewards.points_for(earn_reason(conversion.id))
        if not earned:
            return 0
        added = await store.rewards.add_points(
            conversion.affiliate_id,
            conversion.program_id,
            f"conversion:{conversion.id}:reversed",
            -earned,
            at=now,
        )
        return -earned if added else 0
    return 0


async def click_points(
    store: Store, program_ids: list[int], defaults: RewardDefaults
) -> dict[int, int]:
    """Points per click-through of each program, by program id."""
    return {
        program_id: (await store.rewards.rules(program_id, defaults)).points_click
        for program_id in program_ids
    }


async def total(store: Store, affiliate_id: int, defaults: RewardDefaults) -> int:
    """The affiliate's points over all time and programs."""
    programs = [p.id for p in await store.programs.list()]
    found = await store.rewards.ranking(
        None, None, await click_points(store, programs, defaults), affiliate_id=affiliate_id
    )
    return found[0].value if found else 0
