"""Tiers: standing by approved conversions over a window, and the commission bonus it brings.

A tier is re-evaluated when one of the affiliate's conversions changes (incrementally, never
by rescanning everyone). Each change is a row in the tier history with the time it was
reached; a conversion earns the bonus of the tier in force at its ``occurred_at``, so a bonus
applies only from the moment the tier was reached, and a conversion reported late is paid at
the rate its own time deserved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from commands.core import notify
from commands.core.money import Rate, format_money, format_percent
from commands.core.reply import Reply
from commands.rewards import roles as reward_roles
from storage import Store
from storage.programs import Program
from storage.rewards import Tier, TierState


@dataclass(frozen=True, slots=True)
class Change:
    program: Program
    before: str | None
    after: Tier | None
    promoted: bool


async def with_tier_bonus(
    store: Store, program: Program, affiliate_id: int, rate: Rate, occurred_at: datetime
) -> Rate:
    """``rate`` raised by the bonus of the affiliate's tier in force at ``occurred_at``."""
    return bonus_rate(rate, await tier_in_force(store, program.id, affiliate_id, occurred_at))


async def tier_in_force(
    store: Store, program_id: int, affiliate_id: int, at: datetime
) -> TierState | None:
    """The tier that sets the affiliate's bonus at ``at`` (what /rewards shows).

    The latest recorded change at or before ``at``; where none is recorded yet (or the
    record says "below every tier"), a tier with threshold 0 if the program has one:
    it needs no conversions, so every member is in it from the start, not only from
    the evaluation after their first conversion.
    """
    state = await store.rewards.tier_at(affiliate_id, program_id, at)
    if state is not None and state.tier is not None:
        return state
    floor = [tier for tier in await store.rewards.tiers(program_id) if tier.threshold == 0]
    if not floor:
        return state
    tier = floor[-1]  # of several, the one standing() settles on
    since = state.reached_at if state is not None else at
    return TierState(tier.name, tier.bonus_bp, tier.bonus_minor, since)


def bonus_rate(rate: Rate, state: TierState | None) -> Rate:
    """A percent rate gains ``bonus_bp`` percentage points, a flat one ``bonus_minor``."""
    if state is None:
        return rate
    if rate.kind == "percent":
        return Rate("percent", rate.value + state.bonus_bp, rate.currency)
    return Rate("flat", rate.value + state.bonus_minor, rate.currency)


async def standing(
    store: Store, program_id: int, affiliate_id: int, now: datetime
) -> tuple[Tier | None, list[tuple[Tier, int]]]:
    """The highest tier the affiliate qualifies for now, and every tier with the count of
    approved conversions its window sees."""
    tiers = await store.rewards.tiers(program_id)
    counts: dict[int, int] = {}
    seen: list[tuple[Tier, int]] = []
    reached = None
    for tier in tiers:
        if tier.window_days not in counts:
            start = now - timedelta(days=tier.window_days) if tier.window_days > 0 else None
            counts[tier.window_days] = await store.rewards.approved_conversions(
                affiliate_id, program_id, start, now
            )
        count = counts[tier.window_days]
        seen.append((tier, count))
        if count >= tier.threshold and (reached is None or tier.threshold >= reached.threshold):
            reached = tier
    return reached, seen


async def evaluate_tier(
    store: Store,
    program: Program,
    affiliate_id: int,
    now: datetime,
    *,
    announce: tuple[tuple[str, str], ...] = (),
) -> None:
    """Record a tier change if the affiliate's standing moved and tell them privately; a
    promotion is also posted to ``announce`` when their leaderboard visibility allows."""
    reached, _ = await standing(store, program.id, affiliate_id, now)
    current = await store.rewards.tier_at(affiliate_id, program.id, now)
    before = current.tier if current else None
    after = reached.name if reached else None
    if before == after:
        if reached is not None and current is not None and _bonus(reached) != _bonus(current):
            # A manager changed this tier's bonus (/tier set): from now on it pays as the
            # tier is defined now. Not a tier change, so nobody is told and no role moves.
            await store.rewards.record_tier(
                affiliate_id, program.id, reached, at=now, follows=current
            )
        return
    if not await store.rewards.record_tier(
        affiliate_id, program.id, reached, at=now, follows=current
    ):
        return  # a simultaneous evaluation recorded (and announces) this change
    await reward_roles.tier_changed(store, program.id, affiliate_id, before, after, now=now)
    tiers = await store.rewards.tiers(program.id)
    rank = {tier.name: tier.threshold for tier in tiers}
    promoted = after is not None and (before is None or rank[after] > rank.get(before, -1))
    note = _note(Change(program, before, reached, promoted))
    key = f"tier:{affiliate_id}:{program.id}:{after or '-'}:{now.isoformat()}"
    await store.outbox.enqueue(await notify.to_affiliate(store, affiliate_id, note, key), now=now)
    if promoted and reached is not None and announce:
        await _post_promotion(store, program, affiliate_id, reached, announce, key, now)


def _bonus(tier: Tier | TierState) -> tuple[int, int]:
    return tier.bonus_bp, tier.bonus_minor


async def _post_promotion(
    store: Store,
    program: Program,
    affiliate_id: int,
    tier: Tier,
    announce: tuple[tuple[str, str], ...],
    key: str,
    now: datetime,
) -> None:
    """Congratulate publicly under the name the leaderboard would show: the display name
    (public), the alias (alias), or not at all (hidden, alias without one, or suspended)."""
    affiliate = await store.affiliates.get(affiliate_id)
    # A suspended affiliate is out of every public ranking, so out of public praise too.
    if affiliate is None or affiliate.visibility == "hidden" or affiliate.status != "active":
        return
    name = affiliate.alias if affiliate.visibility == "alias" else affiliate.display_name
    if not name:
        return
    post = Reply(title="New tier!", text=f"{name} reached {tier.name} in {program.name}!")
    await store.outbox.enqueue(notify.to_targets(announce, post, f"{key}:public"), now=now)


def describe_bonus(tier: Tier | TierState, program: Program) -> str | None:
    """``+2% commission`` or ``+1.00 USD per conversion``; ``None`` without a bonus."""
    parts = []
    if tier.bonus_bp:
        parts.append(f"+{format_percent(tier.bonus_bp)} commission")
    if tier.bonus_minor:
        parts.append(f"+{format_money(tier.bonus_minor, program.currency)} per conversion")
    return " or ".join(parts) or None


def _note(change: Change) -> Reply:
    name = change.program.name
    if change.after is None:
        return Reply(
            title="Tier change",
            text=f"You are no longer in a tier in {name}; new conversions earn the base rate.",
        )
    bonus = describe_bonus(change.after, change.program)
    extra = f" Conversions from now on earn {bonus}." if bonus else ""
    if change.promoted:
        return Reply(title="New tier!", text=f"You reached {change.after.name} in {name}.{extra}")
    return Reply(title="Tier change", text=f"You are now {change.after.name} in {name}.{extra}")
