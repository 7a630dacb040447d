"""Badges: the first click, milestones of approved conversions (first, 10, 50, 100 by
default) and manager awards. Each badge is awarded once per affiliate (a unique key in the
database) and announced privately; the weekly post gives the week's new badges a public shout-out.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from commands.core import notify
from commands.core.reply import Reply
from commands.core.words import plural
from commands.rewards import roles as reward_roles
from storage import Store
from storage.reward_roles import badge_subject
from storage.rewards import RewardDefaults

FIRST_CONVERSION = "first-conversion"
FIRST_CLICK = "first-click"


def milestone_badge(count: int) -> str:
    """The badge for ``count`` approved conversions: ``first-conversion``, ``10-conversions``."""
    return FIRST_CONVERSION if count == 1 else f"{count}-conversions"


async def grant(
    store: Store, affiliate_id: int, badge: str, reason: str | None, *, now: datetime
) -> bool:
    """Award ``badge`` unless the affiliate has it; tell them privately. Returns whether new."""
    if not await store.rewards.award_badge(affiliate_id, badge, reason, at=now):
        return False
    await reward_roles.queue(store, affiliate_id, badge_subject(badge), "grant", now=now)
    because = f" ({reason})" if reason else ""
    note = Reply(title="New badge!", text=f"You earned the {badge} badge{because}.")
    key = f"badge:{affiliate_id}:{badge}"
    await store.outbox.enqueue(await notify.to_affiliate(store, affiliate_id, note, key), now=now)
    return True


async def first_clicks(store: Store, link_ids: Iterable[int], *, now: datetime) -> list[int]:
    """Award the first-click badge to the owners of a written batch of clicks' links who
    lack it (one statement for the whole batch) and tell each newcomer privately.

    Returns the affiliates who earned it now.
    """
    awarded = await store.rewards.award_to_link_owners(
        link_ids, FIRST_CLICK, "first click on a link", at=now
    )
    note = Reply(title="New badge!", text=f"You earned the {FIRST_CLICK} badge: your first click!")
    for affiliate_id in awarded:
        await reward_roles.queue(store, affiliate_id, badge_subject(FIRST_CLICK), "grant", now=now)
        key = f"badge:{affiliate_id}:{FIRST_CLICK}"
        await store.outbox.enqueue(
            await notify.to_affiliate(store, affiliate_id, note, key), now=now
        )
    return awarded


async def check_milestones(
    store: Store, affiliate_id: int, *, defaults: RewardDefaults, now: datetime
) -> list[str]:
    """Award every conversion milestone the affiliate has passed; returns the new badges.

    Badges stay once earned: a later reversal takes points and tier standing back, not a
    recognition already announced.
    """
    count = await store.rewards.approved_conversions(affiliate_id, None, None, now)
    new = []
    for milestone in sorted(defaults.milestones):
        if milestone > count:
            break
        badge = milestone_badge(milestone)
        reason = plural(milestone, "{n} approved conversion", "{n} approved conversions")
        if await grant(store, affiliate_id, badge, reason, now=now):
            new.append(badge)
    return new


TOP_OF_WEEK = "top-3-of-a-week"


async def award_weekly_badges(
    store: Store,
    ranked: Iterable[tuple[int, int]],
    week_start: datetime,
    week_end: datetime,
    week_key: str,
    *,
    defaults: RewardDefaults,
    now: datetime,
) -> None:
    """Badges a finished week brings: top 3 of the week, and a streak of weeks with an
    approved conversion. ``ranked`` holds (rank, affiliate id) of the week's ranking."""
    week = timedelta(days=7)
    for rank, affiliate_id in ranked:
        if rank <= 3:
            await grant(store, affiliate_id, TOP_OF_WEEK, f"#{rank} in {week_key}", now=now)
        streak = defaults.streak_weeks
        if streak < 2:
            continue
        for back in range(streak):
            start, end = week_start - back * week, week_end - back * week
            count = await store.rewards.approved_conversions(
                affiliate_id, None, start, end - timedelta(microseconds=1)
            )
            if count == 0:
                break
        else:
            reason = plural(
                streak,
                "a conversion in each of {n} week to {week}",
                "a conversion in each of {n} weeks to {week}",
                week=week_key,
            )
            await grant(store, affiliate_id, f"{streak}-week-streak", reason, now=now)
