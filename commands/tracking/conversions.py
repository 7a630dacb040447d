"""Recording conversions: attribution, commission, caps, idempotency and status changes.

``record_conversion`` is the one path for postbacks and CSV imports. Everything it writes
for one conversion commits together or not at all, and it returns the answer to give the
network. A repeat of a (program, txn_id, status) the database already holds is answered
with the body first given for it plus ``"duplicate": true``; a new status for a known
transaction is a status change, allowed only along pending → approved → paid,
pending → reversed and approved/paid → reversed (a clawback). A reversal is final: a
repeat of an earlier status is answered with what is stored now, never re-applied.
A conversion reported while its affiliate is suspended is recorded with no commission.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from commands.caps import (
    DEFAULT_ALERT_PERCENTS,
    cap_usages,
    over_hard_cap,
    record_cap_crossings,
)
from commands.core import calendar
from commands.core.money import Rate, from_minor
from commands.fraud import FraudRules, record_screening, screen_conversion, screen_reversal
from commands.rewards import evaluate_tier, on_conversion, with_tier_bonus
from commands.tracking import notices
from commands.tracking.postback_fields import ConversionInput, ConversionRejected, validate
from storage import Database, Store
from storage.conversions import Conversion, ConversionStatus, NewConversion, StatusEvent
from storage.programs import Program
from storage.rewards import RewardDefaults

log = logging.getLogger(__name__)

Result = Literal["inserted", "updated", "duplicate"]

TRANSITIONS: dict[ConversionStatus, frozenset[ConversionStatus]] = {
    "pending": frozenset({"approved", "reversed"}),
    "approved": frozenset({"paid", "reversed"}),
    "paid": frozenset({"reversed"}),
    "reversed": frozenset(),
}
INITIAL: frozenset[ConversionStatus] = frozenset({"pending", "approved", "reversed"})


@dataclass(frozen=True, slots=True)
class TrackingRules:
    """The configuration conversions are judged by (built from the ``[tracking]`` config)."""

    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    alert_percents: tuple[int, ...] = DEFAULT_ALERT_PERCENTS
    rewards: RewardDefaults = field(default_factory=RewardDefaults)
    fraud: FraudRules = field(default_factory=FraudRules)
    # Where public tier promotions are posted: ``Settings.announce_targets``.
    announce_targets: tuple[tuple[str, str], ...] = ()
    # The IP hash salt (``commands.tracking.ip_hashes``) a reported customer IP is hashed with; the
    # tracking server and the importer settle it before recording anything.
    ip_salt: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened and the JSON body to answer with (always a 2xx)."""

    result: Result
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Attribution:
    affiliate_id: int
    link_id: int | None
    click_id: str | None
    commissionable: bool
    note: str | None = None
    # The affiliate was suspended when it was reported: recorded, worth nothing.
    while_suspended: bool = False


async def find_program(database: Database, fields: Mapping[str, str]) -> Program:
    """The program a conversion belongs to: named, or found through its click or code.

    Raises:
        ConversionRejected: nothing locates a program, or what was given does not exist.
    """
    async with database.read() as store:
        if "program" in fields:
            # Not commands.core.programs.program_named: a network gets a 404, not the list of
            # programs, and an unauthenticated bad request should not cost a second query.
            program = await store.programs.by_slug(fields["program"].lower())
            if program is None:
                raise ConversionRejected("program", "no such program", status=404)
            return program
        if "click_id" in fields:
            click = await store.clicks.by_click_id(fields["click_id"])
            if click is None:
                raise ConversionRejected("click_id", "unknown click_id", status=404)
            found = await store.programs.get(click.program_id)
        elif "code" in fields:
            target = await store.links.target(fields["code"])
            if target is None:
                raise ConversionRejected("code", "unknown referral code", status=404)
            found = await store.programs.get(target.link.program_id)
        else:
            raise ConversionRejected("click_id", "click_id (or code, or program) is required")
    if found is None:  # pragma: no cover - foreign keys keep links to existing programs
        raise ConversionRejected("program", "no such program", status=404)
    return found


async def record_conversion(
    database: Database,
    program: Program,
    fields: Mapping[str, str],
    *,
    now: datetime,
    rules: TrackingRules,
    source: str = "postback",
) -> Outcome:
    """Record one conversion (or a status change of one) and say what to answer.

    Args:
        database: where to record it; one transaction per call.
        program: the program it belongs to (see :func:`find_program`).
        fields: our field names (see ``postback_fields.normalise``) with raw text values.
        now: the current time.
        rules: time zone and default cap alert thresholds.
        source: ``postback`` or ``import``, kept in the status history.

    Raises:
        ConversionRejected: bad input or a refused status change; nothing was written.
    """
    data = validate(fields, program, now, ip_salt=rules.ip_salt)
    async with database.transaction() as store:
        existing = await store.conversions.by_txn(program.id, data.txn_id)
        if existing is None:
            inserted = await _insert(store, program, data, now=now, rules=rules, source=source)
            if inserted is not None:
                return inserted
            # A concurrent request inserted this transaction first and has committed.
            existing = await store.conversions.by_txn(program.id, data.txn_id)
            if existing is None:  # pragma: no cover - the conflict proves the row exists
                raise RuntimeError("conversion conflict without a conversion")
        outcome = await _change_status(
            store,
            program,
            existing,
            data.status,
            now,
            source,
            rules.rewards,
            announce=rules.announce_targets,
        )
        if outcome.result == "updated" and data.status == "reversed":
            await screen_reversal(
                store, program, existing.affiliate_id, rules=rules.fraud, now=now
            )
        return outcome


async def settle_held(
    store: Store,
    program: Program,
    conversion: Conversion,
    status: ConversionStatus,
    now: datetime,
    defaults: RewardDefaults,
    *,
    announce: tuple[tuple[str, str], ...] = (),
) -> Outcome:
    """Move a conversion held for fraud review to ``status`` (a manager's decision)."""
    return await _change_status(
        store, program, conversion, status, now, "review", defaults, announce=announce
    )


async def _insert(
    store: Store,
    program: Program,
    data: ConversionInput,
    *,
    now: datetime,
    rules: TrackingRules,
    source: str,
) -> Outcome | None:
    if data.status not in INITIAL:
        raise ConversionRejected(
            "status", f"transaction {data.txn_id} is unknown, so it cannot be {data.status}", 409
        )
    if data.amount_minor is None and data.kind == "sale":
        raise ConversionRejected("amount", "amount is required for a sale")
    amount_minor = data.amount_minor or 0
    attribution = await _unless_suspended(store, await _attribute(store, program, data))
    screening = await screen_conversion(
        store,
        program,
        data,
        affiliate_id=attribution.affiliate_id,
        click_id=attribution.click_id,
        rules=rules.fraud,
    )
    if screening.hold and data.status == "approved":
        data = replace(data, status="pending")  # held: not commissionable until reviewed
    commission = 0
    if attribution.commissionable:
        rate = await store.programs.commission_at(program.id, data.occurred_at)
        if rate is None:
            raise ConversionRejected(
                "occurred_at", "the program had no commission yet at occurred_at", 422
            )
        # The tier in force when the conversion happened adds its bonus (refreshed first,
        # so a standing whose window has passed is not paid a bonus it no longer has).
        await evaluate_tier(
            store, program, attribution.affiliate_id, now, announce=rules.announce_targets
        )
        base = Rate(rate.kind, rate.value, rate.currency)
        paid = await with_tier_bonus(
            store, program, attribution.affiliate_id, base, data.occurred_at
        )
        commission = paid.commission_on(amount_minor)
    usages = await cap_usages(
        store, program.id, attribution.affiliate_id, data.occurred_at, rules.zone, lock=True
    )
    over_cap = attribution.commissionable and over_hard_cap(usages, commission)
    earning = 0 if over_cap or data.status == "reversed" else commission
    new = NewConversion(
        program_id=program.id,
        affiliate_id=attribution.affiliate_id,
        link_id=attribution.link_id,
        click_id=attribution.click_id,
        txn_id=data.txn_id,
        kind=data.kind,
        amount_minor=amount_minor,
        currency=data.currency,
        commission_minor=commission,
        status=data.status,
        over_cap=over_cap,
        customer_id=data.customer_id,
        occurred_at=data.occurred_at,
        customer_ip_hash=data.customer_ip_hash,
        while_suspended=attribution.while_suspended,
    )
    conversion_id = await store.conversions.insert(new, now=now)
    if conversion_id is None:
        return None
    await record_screening(store, screening, conversion_id, rules=rules.fraud, now=now)
    conversion = Conversion(id=conversion_id, **asdict(new), created_at=now, updated_at=now)
    body = _body(program, conversion, previous=None, note=attribution.note)
    await store.conversions.add_event(
        StatusEvent(
            conversion_id=conversion_id,
            status=data.status,
            previous_status=None,
            commission_delta_minor=earning if data.status == "approved" else 0,
            response=body,
            source=source,
            occurred_at=now,
        )
    )
    await on_conversion(
        store,
        program,
        conversion,
        None,
        defaults=rules.rewards,
        now=now,
        announce=rules.announce_targets,
    )
    if data.status == "approved":
        await notices.queue_instant_notice(
            store,
            program,
            conversion_id=conversion_id,
            affiliate_id=attribution.affiliate_id,
            commission_minor=earning,
            currency=data.currency,
            now=now,
        )
    if attribution.commissionable and not over_cap and data.status != "reversed":
        events = await record_cap_crossings(
            store, usages, commission, now=now, default_percents=rules.alert_percents
        )
        for event in events:
            log.info(
                "cap %s of %s reached %s%% for period %s",
                event.cap_id,
                program.slug,
                event.threshold,
                event.period_key,
            )
    return Outcome("inserted", body)


async def _unless_suspended(store: Store, attribution: _Attribution) -> _Attribution:
    """The attribution, worth nothing if its affiliate is suspended right now.

    Every way a conversion reaches an affiliate (click, code, recurring customer, signup
    referral; postback or import) passes here, so a suspension stops all new commission.
    """
    affiliate = await store.affiliates.get(attribution.affiliate_id)
    if affiliate is None or affiliate.status != "suspended":
        return attribution
    return replace(
        attribution,
        commissionable=False,
        while_suspended=True,
        note=f"affiliate #{affiliate.id} is suspended: recorded without commission",
    )


async def _attribute(store: Store, program: Program, data: ConversionInput) -> _Attribution:
    """Who earns the conversion: its click, its code, the customer's first referrer (a
    repeat purchase), or the affiliate whose chat link the customer signed up through."""
    repeat = None
    if data.customer_id is not None:
        repeat = await store.conversions.first_of_customer(program.id, data.customer_id)
    if repeat is not None and repeat.affiliate_id is not None:
        within = program.recurring_months > 0 and data.occurred_at < calendar.add_months(
            repeat.occurred_at, program.recurring_months
        )
        note = None if within else "repeat customer outside the recurring commission window"
        return _Attribution(repeat.affiliate_id, repeat.link_id, data.click_id, within, note)
    if data.click_id is not None:
        click = await store.clicks.by_click_id(data.click_id)
        if click is None:
            raise ConversionRejected("click_id", "unknown click_id", status=404)
        if click.program_id != program.id:
            raise ConversionRejected("click_id", "the click belongs to another program", 422)
        if data.occurred_at - click.occurred_at > timedelta(days=program.attribution_days):
            raise ConversionRejected(
                "click_id",
                f"the click is older than the {program.attribution_days}-day attribution window",
                422,
            )
        return _Attribution(click.affiliate_id, click.link_id, click.click_id, True)
    if data.code is not None:
        target = await store.links.target(data.code)
        if target is None:
            raise ConversionRejected("code", "unknown referral code", status=404)
        if target.link.program_id != program.id:
            raise ConversionRejected("code", "the code belongs to another program", 422)
        return _Attribution(target.link.affiliate_id, target.link.id, None, True)
    if data.customer_id is not None:
        signup = await store.conversions.signup_of_customer(program.id, data.customer_id)
        if signup is not None and signup.affiliate_id is not None:
            return _Attribution(signup.affiliate_id, signup.link_id, None, True)
    raise ConversionRejected("click_id", "click_id or code is required to attribute it")


async def _change_status(
    store: Store,
    program: Program,
    conversion: Conversion,
    requested: ConversionStatus,
    now: datetime,
    source: str,
    defaults: RewardDefaults,
    *,
    announce: tuple[tuple[str, str], ...] = (),
) -> Outcome:
    seen = await store.conversions.event(conversion.id, requested)
    if seen is not None:
        return _repeated(program, conversion, seen)
    if requested not in TRANSITIONS[conversion.status]:
        raise ConversionRejected(
            "status",
            f"transaction {conversion.txn_id} is {conversion.status}; it cannot become "
            f"{requested}",
            status=409,
        )
    if requested == "approved" and source != "review" and await store.fraud.held(conversion.id):
        raise ConversionRejected(
            "status", f"transaction {conversion.txn_id} is held for fraud review", status=409
        )
    earned = 0 if conversion.over_cap else conversion.commission_minor
    if requested == "approved":
        delta = earned
    elif requested == "paid" or conversion.status in {"approved", "paid"}:
        delta = -earned  # a payout, or a clawback of approved (or already paid) commission
    else:
        delta = 0
    moved = replace(conversion, status=requested, updated_at=now)
    body = _body(program, moved, previous=conversion.status, note=None)
    added = await store.conversions.add_event(
        StatusEvent(
            conversion_id=conversion.id,
            status=requested,
            previous_status=conversion.status,
            commission_delta_minor=delta,
            response=body,
            source=source,
            occurred_at=now,
        )
    )
    if not added:
        # The same change committed concurrently: answer as its duplicate.
        seen = await store.conversions.event(conversion.id, requested)
        if seen is None:  # pragma: no cover - the conflict proves the row exists
            raise RuntimeError("status event conflict without an event")
        return _repeated(program, moved, seen)
    if not await store.conversions.move(conversion.id, conversion.status, requested, now=now):
        raise ConversionRejected(
            "status", f"transaction {conversion.txn_id} changed meanwhile; retry", status=409
        )
    await on_conversion(
        store, program, moved, conversion.status, defaults=defaults, now=now, announce=announce
    )
    if requested == "approved":
        await notices.queue_instant_notice(
            store,
            program,
            conversion_id=conversion.id,
            affiliate_id=conversion.affiliate_id,
            commission_minor=delta,
            currency=conversion.currency,
            now=now,
        )
    return Outcome("updated", body)


def _repeated(program: Program, stored: Conversion, seen: StatusEvent) -> Outcome:
    """The answer to a status the conversion reached before: the first answer while that is
    still its status, else what is stored now (a late retry of ``approved`` after a
    reversal must not read as approved; a reversed conversion is never approved again)."""
    if stored.status == seen.status:
        return Outcome("duplicate", {**seen.response, "duplicate": True})
    note = (
        f"transaction {stored.txn_id} was {seen.status} before and is {stored.status} now; "
        f"this {seen.status} is not applied again"
    )
    return Outcome(
        "duplicate", {**_body(program, stored, previous=None, note=note), "duplicate": True}
    )


def _body(
    program: Program,
    conversion: Conversion,
    *,
    previous: ConversionStatus | None,
    note: str | None,
) -> dict[str, Any]:
    commissionable = not conversion.over_cap and conversion.commission_minor > 0
    body: dict[str, Any] = {
        "ok": True,
        "conversion_id": conversion.id,
        "program": program.slug,
        "txn_id": conversion.txn_id,
        "status": conversion.status,
        "kind": conversion.kind,
        "amount": str(from_minor(conversion.amount_minor, conversion.currency)),
        "currency": conversion.currency,
        "commission": str(from_minor(conversion.commission_minor, conversion.currency)),
        "commissionable": commissionable,
        "over_cap": conversion.over_cap,
    }
    if conversion.while_suspended:
        body["affiliate_suspended"] = True
    if previous is not None:
        body["previous_status"] = previous
    if note is not None:
        body["note"] = note
    return body
