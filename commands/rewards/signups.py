"""Double-sided rewards for signup referrals: a welcome for the referred person at once,
credit for the referrer only once the referral qualifies.

A signup (a Telegram deep-link start) is recorded pending and worth nothing. It qualifies,
and becomes approved with the program's signup points, when either:

- a later sale or lead conversion in the program is approved for the same customer (the
  referred account's ``telegram:<id>``, as the network reports it), or
- the referred account comes back (starts the bot again) at least ``qualify_days`` days
  after signing up, when the program sets ``qualify_days``.

Both sides are idempotent per referred person: the welcome has a dedupe key naming the
program and account, and qualification is a status change that happens once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from commands.core import notify
from commands.core.reply import Reply, Visibility
from commands.core.words import plural
from commands.rewards import points
from storage import Store
from storage.conversions import Conversion, StatusEvent
from storage.outbox import OutgoingMessage
from storage.programs import Program
from storage.rewards import RewardDefaults


async def welcome_referred(
    store: Store,
    program: Program,
    platform: str,
    user_id: str,
    *,
    defaults: RewardDefaults,
    now: datetime,
) -> bool:
    """Queue the program's welcome reward privately to a newly referred account; returns
    whether the program has one to send."""
    rules = await store.rewards.rules(program.id, defaults)
    if not rules.welcome_text:
        return False
    note = Reply(
        title=f"Welcome to {program.name}",
        text=rules.welcome_text,
        visibility=Visibility.PRIVATE,
    )
    message = OutgoingMessage(
        dedupe_key=f"welcome:{program.id}:{platform}:user:{user_id}",
        platform=platform,
        target_kind="user",
        target_id=user_id,
        payload=note.to_json(),
    )
    await store.outbox.enqueue([message], now=now)
    return True


async def qualify_by_conversion(
    store: Store,
    program: Program,
    conversion: Conversion,
    *,
    defaults: RewardDefaults,
    now: datetime,
) -> bool:
    """Qualify the pending signup of the customer behind an approved sale or lead."""
    if conversion.kind == "signup" or conversion.customer_id is None:
        return False
    signup = await store.conversions.by_txn(program.id, f"signup:{conversion.customer_id}")
    if signup is None or signup.kind != "signup":
        return False
    return await qualify(store, program, signup, "a conversion", defaults=defaults, now=now)


async def qualify_by_return(
    store: Store,
    program: Program,
    platform: str,
    user_id: str,
    *,
    defaults: RewardDefaults,
    now: datetime,
) -> bool:
    """Qualify a referred account that came back ``qualify_days`` or more after signing up."""
    rules = await store.rewards.rules(program.id, defaults)
    if rules.qualify_days <= 0:
        return False
    signup = await store.conversions.by_txn(program.id, f"signup:{platform}:{user_id}")
    if signup is None or signup.kind != "signup":
        return False
    if now < signup.occurred_at + timedelta(days=rules.qualify_days):
        return False
    return await qualify(store, program, signup, "staying active", defaults=defaults, now=now)


async def qualify(
    store: Store,
    program: Program,
    signup: Conversion,
    why: str,
    *,
    defaults: RewardDefaults,
    now: datetime,
) -> bool:
    """Approve a pending signup once and credit the referrer; ``False`` if it was not
    pending (already qualified, or reversed by a manager) or the referrer is suspended
    (a suspended affiliate earns nothing new; the signup stays pending and can qualify
    once they are reinstated)."""
    if signup.status != "pending" or signup.affiliate_id is None:
        return False
    referrer = await store.affiliates.get(signup.affiliate_id)
    if referrer is None or referrer.status == "suspended":
        return False
    body = {"ok": True, "txn_id": signup.txn_id, "status": "approved", "qualified_by": why}
    added = await store.conversions.add_event(
        StatusEvent(
            conversion_id=signup.id,
            status="approved",
            previous_status="pending",
            commission_delta_minor=signup.commission_minor,
            response=body,
            source="qualified",
            occurred_at=now,
        )
    )
    if not added or not await store.conversions.move(signup.id, "pending", "approved", now=now):
        return False
    approved = await store.conversions.get(signup.id)
    if approved is None:  # pragma: no cover - moved in this transaction
        return False
    earned = await points.on_status(store, approved, "pending", defaults=defaults, now=now)
    extra = plural(earned, " You earned {n} point.", " You earned {n} points.") if earned else ""
    note = Reply(
        title="Referral qualified",
        text=f"A person you referred to {program.name} qualified by {why}.{extra}",
    )
    key = f"signup-qualified:{signup.id}"
    await store.outbox.enqueue(
        await notify.to_affiliate(store, signup.affiliate_id, note, key), now=now
    )
    return True
