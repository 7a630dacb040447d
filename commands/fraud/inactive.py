"""Referral farming by accounts that never act again.

A farm opens the bot through an affiliate's deep link from throwaway accounts and never
uses them again. Each signup referral is watched (``storage.referral_activity``): the
referred account "acts again" when it sends the bot any command after signing up. Once a
referral is ``referral_inactive_days`` old, the periodic job decides it once (came back or
not) and re-checks only the codes that had referrals decided in that run; a code whose
decided referrals are mostly inactive raises one flag.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from commands.fraud.flags import new_flag, raise_flags
from commands.fraud.rules import RULE_INACTIVE_REFERRALS, FraudRules
from storage import Store

# Referrals decided per run: a backlog (after downtime) is worked off over several runs.
BATCH = 500


async def check_inactive_referrals(
    store: Store, rules: FraudRules, *, now: datetime, batch: int = BATCH
) -> list[int]:
    """Decide referrals that just reached the age and flag codes full of inactive ones.

    Args:
        store: the unit of work to read and write in.
        rules: thresholds (``referral_inactive_days``, ``_percent``, ``_min``).
        now: the time of the run.
        batch: at most this many referrals are decided in one call.

    Returns:
        The ids of flags raised by this run.
    """
    if not rules.enabled:
        return []
    older_than = now - timedelta(days=rules.referral_inactive_days)
    touched = await store.referral_activity.decide_due(older_than=older_than, limit=batch)
    flags = []
    for code in await store.referral_activity.per_code(touched):
        if code.inactive < rules.referral_inactive_min:
            continue
        if code.inactive * 100 < rules.referral_inactive_percent * code.decided:
            continue
        flags.append(
            new_flag(
                RULE_INACTIVE_REFERRALS,
                code.link_id,
                program_id=code.program_id,
                affiliate_id=code.affiliate_id,
                link_id=code.link_id,
                inactive=code.inactive,
                referrals=code.decided,
                days=rules.referral_inactive_days,
                threshold_percent=rules.referral_inactive_percent,
            )
        )
    return await raise_flags(store, flags, rules=rules, now=now)
