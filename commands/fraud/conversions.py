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
from typing import Protocol

from commands.fraud.flags import new_flag, raise_flags
from commands.fraud.rules import (
    RULE_CONVERSION_RATE,
    RULE_DUPLICATE_TXN,
    RULE_NO_CLICK,
    RULE_REVERSALS,
    RULE_SELF_CUSTOMER,
    RULE_SELF_IP,
    RULE_SHARED_CUSTOMER_IP,
    RULE_TOO_FAST,
    FraudRules,
    holds_flagged,
)
from storage import Store
from storage.clicks import ClickRef
from storage.fraud import NewFlag
from storage.programs import Program

# Customer ids that name a chat account, as signup referrals write them and networks echo
# them back: ``telegram:<id>``, ``discord:<id>``.
_CHAT_CUSTOMER = re.compile(r"^(telegram|discord|console):([A-Za-z0-9_.-]{1,64})$")


class Reported(Protocol):
    """What the conversion rules read of a reported conversion.

    Tracking's validated postback or CSV row (``ConversionInput``) has these fields; naming
    only them keeps the rules independent of how conversions arrive.
    """

    @property
    def txn_id(self) -> str: ...
    @property
    def code(self) -> str | None: ...
    @property
    def customer_id(self) -> str | None: ...
    @property
    def customer_ip_hash(self) -> str | None: ...
    @property
    def occurred_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class Screening:
    """What the rules found about one new conversion, and whether to hold it.

    ``related`` names earlier conversions a flag is also about, by the flag's dedupe key
    (the other customers behind one shared IP).
    """

    flags: list[NewFlag] = field(default_factory=list)
    hold: bool = False
    related: dict[str, tuple[int, ...]] = field(default_factory=dict)


async def screen_conversion(
    store: Store,
    program: Program,
    data: Reported,
    *,
    affiliate_id: int,
    click_id: str | None,
    rules: FraudRules,
) -> Screening:
    """Judge a conversion about to be inserted (see the module docstring)."""
    if not rules.enabled:
        return Screening()
    flags = []

    def flag(rule: str, **evidence: object) -> None:
        flags.append(
            new_flag(
                rule,
                program.id,
                data.txn_id,
                program_id=program.id,
                affiliate_id=affiliate_id,
                link_id=None,  # named, so no evidence key can stand in for it
                txn_id=data.txn_id[:64],
                **evidence,
            )
        )

    click = None
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
    elif rules.flag_without_click and data.code is not None:
        # A customer_id says who bought, not that anyone clicked: the rule applies anyway.
        flag(RULE_NO_CLICK, code=data.code[:32])
    if await _customer_is_affiliate(store, data.customer_id, affiliate_id):
        flag(RULE_SELF_CUSTOMER, customer_platform=(data.customer_id or "").split(":", 1)[0])
    others = await store.fraud.other_programs_with_txn(data.txn_id, program.id)
    if others:
        flag(RULE_DUPLICATE_TXN, other_programs=len(others))
    own_ip = await _self_ip_evidence(store, data, affiliate_id, click, rules)
    if own_ip is not None:
        flag(RULE_SELF_IP, **own_ip)
    rate = await _rate_evidence(store, program, affiliate_id, data.occurred_at, rules)
    if rate is not None:
        flags.append(rate)
    related: dict[str, tuple[int, ...]] = {}
    shared = await _shared_ip_flag(store, program, data, affiliate_id, rules)
    if shared is not None:
        flags.append(shared[0])
        related[shared[0].dedupe_key] = shared[1]
    hold = bool(flags) and holds_flagged(program.settings)
    return Screening(flags, hold=hold, related=related)


async def _self_ip_evidence(
    store: Store,
    data: Reported,
    affiliate_id: int,
    click: ClickRef | None,
    rules: FraudRules,
) -> dict[str, object] | None:
    """Self-referral by IP: the visitor (the reported customer IP, else the attributed
    click's visitor) is at an address the earning affiliate opened their own link's check
    page from, within ``self_ip_days`` of the time they were seen there (one indexed read).
    """
    if rules.self_ip_days <= 0:
        return None
    if data.customer_ip_hash is not None:
        visitor, source = data.customer_ip_hash, "customer ip"
    elif click is not None and click.ip_hash:
        visitor, source = click.ip_hash, "click"
    else:
        return None
    seen = await store.sightings.find(affiliate_id, visitor)
    if seen is None:
        return None
    window = timedelta(days=rules.self_ip_days)
    if not seen.first_seen_at - window <= data.occurred_at <= seen.last_seen_at + window:
        return None
    return {
        "visitor_hash": visitor[:16],
        "affiliate_seen_at": seen.last_seen_at.isoformat(),
        "source": source,
    }


async def _shared_ip_flag(
    store: Store, program: Program, data: Reported, affiliate_id: int, rules: FraudRules
) -> tuple[NewFlag, tuple[int, ...]] | None:
    """Many distinct customers of one affiliate converting from one customer IP within
    ``rate_days``: one person posing as many customers. One indexed read, and only for a
    conversion that came with a customer IP."""
    if data.customer_ip_hash is None:
        return None
    since = data.occurred_at - timedelta(days=rules.rate_days)
    earlier = await store.fraud.conversions_at_customer_ip(
        program.id, affiliate_id, data.customer_ip_hash, since
    )
    customers = {customer for _, customer in earlier if customer is not None}
    if data.customer_id is not None:
        customers.add(data.customer_id)
    if len(customers) < rules.customers_per_ip:
        return None
    prefix = data.customer_ip_hash[:16]
    day = int(data.occurred_at.timestamp()) // 86_400
    flag = new_flag(
        RULE_SHARED_CUSTOMER_IP,
        program.id,
        affiliate_id,
        prefix,
        day,
        program_id=program.id,
        affiliate_id=affiliate_id,
        customer_ip_hash=prefix,
        customers=len(customers),
        conversions=len(earlier) + 1,
        threshold=rules.customers_per_ip,
        days=rules.rate_days,
    )
    return flag, tuple(conversion_id for conversion_id, _ in earlier)


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
    return new_flag(
        RULE_CONVERSION_RATE,
        program.id,
        affiliate_id,
        day,
        program_id=program.id,
        affiliate_id=affiliate_id,
        conversions=mine,
        clicks=my_clicks,
        rate_percent=round(100 * my_rate, 1),
        program_rate_percent=round(100 * norm, 1),
        days=rules.rate_days,
    )


async def record_screening(
    store: Store, screening: Screening, conversion_id: int, *, rules: FraudRules, now: datetime
) -> list[int]:
    """Raise the screening's flags for the stored conversion; returns new flag ids.

    The open flag that stands for the flag's dedupe key (new, grouped into, or raised
    earlier by a rule judged per affiliate and day) names this conversion and the related
    earlier ones, so a conversion held for review always has a flag whose review settles it.
    """
    raised = []
    for flag in screening.flags:
        raised += await raise_flags(store, [flag], rules=rules, now=now)
        open_id = await store.fraud.open_flag_id(flag.dedupe_key)
        if open_id is None:
            continue
        await store.fraud.attach(open_id, conversion_id, held=screening.hold)
        for earlier in screening.related.get(flag.dedupe_key, ()):
            await store.fraud.attach(open_id, earlier, held=False)
    return raised


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
    flag = new_flag(
        RULE_REVERSALS,
        affiliate_id,
        bucket,
        program_id=program.id,
        affiliate_id=affiliate_id,
        reversals=len(reversed_ids),
        threshold=rules.reversals,
        window_hours=rules.reversal_window_hours,
    )
    raised = await raise_flags(store, [flag], rules=rules, now=now)
    open_id = await store.fraud.open_flag_id(flag.dedupe_key)
    if open_id is not None:
        for conversion_id in reversed_ids:
            await store.fraud.attach(open_id, conversion_id, held=False)
    return raised
