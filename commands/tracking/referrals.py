"""Signup referrals through chat deep links (``t.me/<bot>?start=<code>``).

A person who opens the bot through an affiliate's link is recorded as that affiliate's
referral in programs that turn signup referrals on (the ``signup_referrals`` program
setting). The record is a pending conversion of kind ``signup`` worth nothing until the
program's qualifying rule approves it, so farming starts from throwaway accounts earns
nothing; it is idempotent per referred account, and an affiliate cannot refer themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from commands.fraud import FraudRules, screen_referral
from commands.rewards import qualify_by_return, welcome_referred
from storage import Database
from storage.referrals import SIGNUP_REFERRALS, NewSignup
from storage.rewards import RewardDefaults

# Telegram deep-link payloads: up to 64 of A-Z a-z 0-9 _ -. Telegram's own affiliate
# programs use the _tgr_ prefix, so it is never ours.
_PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_RESERVED_PREFIX = "_tgr_"


class Outcome(StrEnum):
    RECORDED = "recorded"  # a new referral
    REPEATED = "repeated"  # this account was referred in the program before
    SELF_REFERRAL = "self"  # the link belongs to the person who opened it
    CLOSED = "closed"  # the program is paused or the affiliate suspended
    NOT_ENABLED = "not-enabled"  # a real link, but the program does not count signups
    UNKNOWN = "unknown"  # not a link code at all


@dataclass(frozen=True, slots=True)
class ReferralResult:
    outcome: Outcome
    program_name: str | None = None
    program_slug: str | None = None


def signup_txn_id(platform: str, user_id: str) -> str:
    """The transaction id that makes a signup unique per referred account and program."""
    return f"signup:{platform}:{user_id}"


def valid_payload(payload: str) -> bool:
    """Whether ``payload`` can travel in a deep link (and is not Telegram's own)."""
    return bool(_PAYLOAD.match(payload)) and not payload.startswith(_RESERVED_PREFIX)


async def record_signup(
    database: Database,
    code: str,
    *,
    platform: str,
    user_id: str,
    now: datetime,
    rewards: RewardDefaults | None = None,
    fraud: FraudRules | None = None,
) -> ReferralResult:
    """Credit the affiliate behind link ``code`` with a signup by ``platform:user_id``.

    Args:
        database: where the referral is stored.
        code: the deep-link payload, normally a link code from /link.
        platform: the referred account's platform (``telegram``).
        user_id: the referred account's id on that platform.
        now: when the person started the bot.
        rewards: point defaults for programs without reward rules.
        fraud: referral farming thresholds (defaults when not given).

    Returns:
        What happened; only ``RECORDED`` wrote anything.
    """
    if not valid_payload(code) or len(code) > 32:
        return ReferralResult(Outcome.UNKNOWN)
    async with database.transaction() as store:
        target = await store.links.target(code)
        program = await store.programs.get(target.link.program_id) if target else None
        if target is None or program is None:
            return ReferralResult(Outcome.UNKNOWN)
        result = ReferralResult(Outcome.RECORDED, program.name, program.slug)
        if not program.settings.get(SIGNUP_REFERRALS):
            return _with(result, Outcome.NOT_ENABLED)
        referred = await store.affiliates.by_identity(platform, user_id)
        if referred is not None and referred.id == target.link.affiliate_id:
            return _with(result, Outcome.SELF_REFERRAL)
        if target.program_status != "active" or target.affiliate_status != "active":
            return _with(result, Outcome.CLOSED)
        created = await store.referrals.record_signup(
            NewSignup(
                program_id=program.id,
                affiliate_id=target.link.affiliate_id,
                link_id=target.link.id,
                txn_id=signup_txn_id(platform, user_id),
                customer_id=f"{platform}:{user_id}",
                currency=program.currency,
            ),
            now=now,
        )
        # Double-sided rewards: the newcomer's welcome at once; the referrer's credit when
        # the referral qualifies (here: the same account back after the qualifying days).
        defaults = rewards or RewardDefaults()
        if created:
            stored = await store.referrals.signup(program.id, signup_txn_id(platform, user_id))
            if stored is not None:
                await store.referral_activity.track(
                    stored.id, target.link.id, platform, user_id, now=now
                )
            await screen_referral(
                store,
                target.link,
                platform=platform,
                user_id=user_id,
                rules=fraud or FraudRules(),
                now=now,
            )
            await welcome_referred(store, program, platform, user_id, defaults=defaults, now=now)
        else:
            await store.referral_activity.returned(platform, user_id, now=now)
            await qualify_by_return(store, program, platform, user_id, defaults=defaults, now=now)
    return result if created else _with(result, Outcome.REPEATED)


async def signup_link_code(database: Database, code: str) -> bool:
    """Whether link ``code`` may also be shared as a chat deep link: its program counts
    signup referrals and the code is a valid deep-link payload."""
    if not valid_payload(code):
        return False
    async with database.read() as store:
        target = await store.links.target(code)
        if target is None:
            return False
        program = await store.programs.get(target.link.program_id)
    return program is not None and bool(program.settings.get(SIGNUP_REFERRALS))


def _with(result: ReferralResult, outcome: Outcome) -> ReferralResult:
    return ReferralResult(outcome, result.program_name, result.program_slug)
