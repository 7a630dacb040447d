"""Referral farming rules: bursts of deep-link signups or server joins on one code, and
brand-new accounts.

Signup referrals earn nothing until they qualify, but a burst of them on one code (a
script opening ``t.me/<bot>?start=CODE`` from throwaway accounts) is still worth a
manager's look. Counting reuses the per-window click counters under scope ``signup``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from commands.fraud.flags import new_flag, raise_flags
from commands.fraud.rules import RULE_NEW_ACCOUNT, RULE_REFERRAL_BURST, FraudRules
from storage import Store
from storage.fraud import CounterKey
from storage.links import Link

DISCORD_EPOCH_MS = 1_420_070_400_000


def discord_account_created(user_id: str) -> datetime | None:
    """When a Discord account was made, read from its snowflake id (``None`` if not one)."""
    if not user_id.isdigit() or len(user_id) > 20:
        return None
    milliseconds = (int(user_id) >> 22) + DISCORD_EPOCH_MS
    return datetime.fromtimestamp(milliseconds / 1000, UTC)


async def screen_referral(
    store: Store, link: Link, *, platform: str, user_id: str, rules: FraudRules, now: datetime
) -> list[int]:
    """Count a new signup referral on ``link`` and flag farming; returns new flag ids."""
    if not rules.enabled:
        return []
    start = int(now.timestamp()) // rules.window_seconds * rules.window_seconds
    key = CounterKey(link.id, "signup", "", start)
    total = (await store.fraud.add_clicks({key: 1})).get(key, 0)
    flags = []
    if total >= rules.referrals_per_code:
        flags.append(
            new_flag(
                RULE_REFERRAL_BURST,
                link.id,
                start,
                program_id=link.program_id,
                affiliate_id=link.affiliate_id,
                link_id=link.id,
                signups=total,
                threshold=rules.referrals_per_code,
                window_seconds=rules.window_seconds,
            )
        )
    created = discord_account_created(user_id) if platform == "discord" else None
    if created is not None and now - created < timedelta(days=rules.min_account_age_days):
        age_hours = round((now - created).total_seconds() / 3600, 1)
        flags.append(
            new_flag(
                RULE_NEW_ACCOUNT,
                link.id,
                platform,
                user_id,
                program_id=link.program_id,
                affiliate_id=link.affiliate_id,
                link_id=link.id,
                account_age_hours=age_hours,
                minimum_days=rules.min_account_age_days,
            )
        )
    return await raise_flags(store, flags, rules=rules, now=now)


async def screen_join(
    store: Store,
    *,
    affiliate_id: int,
    program_id: int | None,
    invite_code: str,
    member_id: str,
    rules: FraudRules,
    now: datetime,
) -> list[int]:
    """Apply the referral farming rules to a server join through an affiliate's invite.

    Joins are never rewarded (Discord's rules), but a burst of them on one affiliate's
    invite, or joins by accounts made moments before, are the same farming pattern as
    deep-link signups and worth a manager's look. The burst count reads the affiliate's
    joins in the current window from the ``(affiliate_id, joined_at)`` index.

    Returns:
        The ids of flags that are new.
    """
    if not rules.enabled:
        return []
    start = int(now.timestamp()) // rules.window_seconds * rules.window_seconds
    window = datetime.fromtimestamp(start, UTC)
    joins = (await store.server_joins.counts_for_affiliate(affiliate_id, window)).joined
    flags = []
    if joins >= rules.referrals_per_code:
        flags.append(
            new_flag(
                RULE_REFERRAL_BURST,
                "invite",
                invite_code,
                start,
                program_id=program_id,
                affiliate_id=affiliate_id,
                joins=joins,
                invite=invite_code,
                threshold=rules.referrals_per_code,
                window_seconds=rules.window_seconds,
            )
        )
    created = discord_account_created(member_id)
    if created is not None and now - created < timedelta(days=rules.min_account_age_days):
        flags.append(
            new_flag(
                RULE_NEW_ACCOUNT,
                "invite",
                invite_code,
                member_id,
                program_id=program_id,
                affiliate_id=affiliate_id,
                account_age_hours=round((now - created).total_seconds() / 3600, 1),
                minimum_days=rules.min_account_age_days,
                invite=invite_code,
            )
        )
    return await raise_flags(store, flags, rules=rules, now=now)
