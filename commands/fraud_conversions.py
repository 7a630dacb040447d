"""Conversion rules: run inside ``record_conversion``'s transaction, on that one row.

``screen_conversion`` looks at a new conversion before it is stored (so a program that
holds flagged conversions can store it as pending); ``record_screening`` raises the flags
once the row has an id. ``screen_reversal`` watches one affiliate's reversals. Each reads
a handful of indexed rows, never a table scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from commands.fraud_flags import raise_flags
from commands.fraud_rules import (
    RULE_CONVERSION_RATE,
    RULE_DUPLICATE_TXN,
    RULE_NO_CLICK,
    RULE_REVERSALS,
    RULE_SELF_CUSTOMER,
    RULE_TOO_FAST,
    FraudRules,
    holds_flagged,
)
from commands.postback_fields import ConversionInput
from storage import Store
from storage.fraud import NewFlag
from storage.programs import Program

# Customer ids that name a chat account, as signup referrals write them and networks echo
# them back: ``telegram:<id>``, ``discord:<id>``.
_CHAT_CUSTOMER = re.compile(r"^(telegram|discord|console):([A-Za-z0-9_.-]{1,64})$")


@dataclass(frozen=True, slots=True)
class Screening:
    """What the rules found about one new conversion, and whether to hold it."""

    flags: list[NewFlag] = field(default_factory=list)
    hold: bool = False


async def screen_conversion(
    store: Store,
    program: Program,
    data: ConversionInput,
    *,
    affiliate_id: int,
    click_id: str | None,
    rules: FraudRules,
) -> Screening:
    """Judge a conversion about to be inserted (see the module docstring)."""
    if not rules.enabled:
        return Screening()
    subject = f"{program.id}:{data.txn_id}"
    flags = []

    def flag(rule: str, **evidence: object) -> None:
        flags.append(
            NewFlag(
                dedupe_key=f"{rule}:{subject}",
                rule=rule,
                program_id=program.id,
                affiliate_id=affiliate_id,
                link_id=None,
                evidence={"txn_id": data.txn_id[:64], **evidence},
            )
        )

    if click_id is not None:
        click = await store.clicks.by_click_id(click_id)
        if click is not None:
            seconds = (data.occurred_at - click.occurred_at).total_seconds()
            if seconds < rules.min_seconds_to_convert:
                flag(
                    RULE_TOO_FAST,
                    seconds=round(seconds, 1),
                    minimum=rules.min_seconds_to_convert,
                    click_at=click.occurred_at.isoformat(),
                )
    elif rules.flag_without_click and data.code is not None and data.customer_id is None:
        flag(RULE_NO_CLICK, code=data.code[:32])
    if await _customer_is_affiliate(store, data.customer_id, affiliate_id):
        flag(RULE_SELF_CUSTOMER, customer_platform=(data.customer_id or "").split(":", 1)[0])
    others = await store.fraud.other_programs_with_txn(data.txn_id, program.id)
    if others:
        flag(RULE_DUPLICATE_TXN, other_programs=len(others))
    rate = await _rate_evidence(store, program, affiliate_id, data.occurred_at, rules)
    if rate is not None:
        flags.append(rate)
    return Screening(flags, hold=bool(flags) and holds_flagged(program.settings))


async def _customer_is_affiliate(store: Store, customer_id: str | None, affiliate_id: int) -> bool:
    """Whether the customer id names one of the earning affiliate's own chat accounts
    (self-referral by identity; one indexed read, only for chat-style customer ids)."""
    found = _CHAT_CUSTOMER.match(customer_id or "")
    if found is None:
        return False
    owner = await store.affiliates.by_identity(found.group(1), found.group(2))
    return owner is not None and owner.id == affiliate_id


async def _rate_evidence(
    store: Store, program: Program, affiliate_id: int, at: datetime, rules: FraudRules
) -> NewFlag | None:
    """The affiliate's conversions per click against the whole program's, over
    ``rate_days``; judged only each ``rate_min_conversions``-th conversion, which keeps
    the program-wide sums off the path of every other postback."""
    since = at - timedelta(days=rules.rate_days)
    mine = await store.fraud.conversions_since(program.id, since, affiliate_id) + 1
    if mine % rules.rate_min_conversions:
        return None
    since_window = int(since.timestamp()) // rules.window_seconds * rules.window_seconds
    my_clicks = await store.fraud.clicks_since(program.id, since_window, affiliate_id)
    all_clicks = await store.fraud.clicks_since(program.id, since_window)
    everyone = await store.fraud.conversions_since(program.id, since) + 1
    if all_clicks <= my_clicks or my_clicks == 0:
        return None  # no norm to compare with (or no clicks at all: the no-click rule)
    my_rate = mine / my_clicks
    norm = (everyone - mine) / (all_clicks - my_clicks)
    if my_rate < rules.rate_factor * max(norm, 1e-9):
        return None
    day = int(at.timestamp()) // 86_400
    return NewFlag(
        dedupe_key=f"{RULE_CONVERSION_RATE}:{program.id}:{affiliate_id}:{day}",
        rule=RULE_CONVERSION_RATE,
        program_id=program.id,
        affiliate_id=affiliate_id,
        link_id=None,
        evidence={
            "conversions": mine,
            "clicks": my_clicks,
            "rate_percent": round(100 * my_rate, 1),
            "program_rate_percent": round(100 * norm, 1),
            "days": rules.rate_days,
        },
    )


async def record_screening(
    store: Store, screening: Screening, conversion_id: int, *, rules: FraudRules, now: datetime
) -> list[int]:
    """Raise the screening's flags for the stored conversion; returns new flag ids."""
    if not screening.flags:
        return []
    return await raise_flags(
        store,
        screening.flags,
        rules=rules,
        now=now,
        conversion_id=conversion_id,
        held=screening.hold,
    )


async def screen_reversal(
    store: Store, program: Program, affiliate_id: int | None, *, rules: FraudRules, now: datetime
) -> list[int]:
    """Flag an affiliate whose reversals in the window reach the configured count."""
    if not rules.enabled or affiliate_id is None:
        return []
    window = timedelta(hours=rules.reversal_window_hours)
    reversed_ids = await store.fraud.reversals_since(affiliate_id, now - window)
    if len(reversed_ids) < rules.reversals:
        return []
    bucket = int(now.timestamp()) // int(window.total_seconds())
    flag = NewFlag(
        dedupe_key=f"{RULE_REVERSALS}:{affiliate_id}:{bucket}",
        rule=RULE_REVERSALS,
        program_id=program.id,
        affiliate_id=affiliate_id,
        link_id=None,
        evidence={
            "reversals": len(reversed_ids),
            "threshold": rules.reversals,
            "window_hours": rules.reversal_window_hours,
        },
    )
    raised = await raise_flags(store, [flag], rules=rules, now=now)
    for flag_id in raised:
        for conversion_id in reversed_ids:
            await store.fraud.attach(flag_id, conversion_id, held=False)
    return raised
