"""/cap set, /cap off and /cap list: the manager commands for a program's caps.

The rules themselves (what counts, when a conversion is over a cap, alerts) are in
``commands.caps.rules``; every change is kept as history in the ``caps`` table and the audit log.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from typing import Any

from commands.caps.rules import cap_usages
from commands.caps.wording import amount, describe
from commands.core import notify
from commands.core.catalog import command
from commands.core.errors import NotFound, Refused, UsageError
from commands.core.invocation import Invocation
from commands.core.money import to_minor
from commands.core.programs import program_named
from commands.core.registry import Audience, Param, ParamKind
from commands.core.reply import Field, Reply, Table, Visibility
from commands.core.validation import slug
from commands.core.words import plural
from storage import Store
from storage.audit import AuditEntry
from storage.caps import Cap, CapAction, CapMetric, CapPeriod, CapScope, NewCap
from storage.programs import Program

PERIODS = ("day", "week", "month", "all")
METRICS = ("conversions", "commission")
ACTIONS = ("notify", "fallback", "pause")
_ACTION_TEXT = {
    "notify": "managers are alerted; nothing else changes",
    "fallback": "new clicks go to the fallback URL and further conversions earn nothing",
    "pause": "the offer pauses until the period ends and further conversions earn nothing",
}


def _alerts(text: str) -> tuple[int, ...]:
    parts = [part.strip().rstrip("%") for part in text.split(",")]
    if not all(re.fullmatch(r"\d{1,3}", part) for part in parts):
        raise ValueError("alerts are percentages separated by commas, like 80,100")
    values = sorted({int(part) for part in parts})
    if not all(1 <= value <= 100 for value in values):
        raise ValueError("alert percentages are between 1 and 100")
    return tuple(values)


@command(
    "cap set",
    "Limit a program's conversions or commission per period",
    params=[
        Param("program", "The program", parse=slug, autocomplete="program"),
        Param("limit", "How many conversions, or how much commission (like 500 or 500.00)"),
        Param("period", "day, week, month or all (time)", kind=ParamKind.CHOICE, choices=PERIODS),
        Param(
            "metric",
            "What is counted (default conversions)",
            kind=ParamKind.CHOICE,
            choices=METRICS,
            required=False,
            default="conversions",
        ),
        Param(
            "action",
            "What happens when it is reached (default notify)",
            kind=ParamKind.CHOICE,
            choices=ACTIONS,
            required=False,
            default="notify",
        ),
        Param("per_affiliate", "The limit applies to each affiliate", kind=ParamKind.FLAG),
        Param(
            "alerts",
            "Alert thresholds in percent (default from config, usually 90,100)",
            required=False,
            option=True,
            parse=_alerts,
            max_length=40,
        ),
    ],
    audience=Audience.MANAGER,
    examples=(
        "/cap set shop 100 month",
        "/cap set shop 500 week commission fallback",
        "/cap set shop 20 day conversions pause --per-affiliate --alerts 75,100",
    ),
)
async def set_cap(
    invocation: Invocation,
    program: str,
    limit: str,
    period: CapPeriod,
    metric: CapMetric,
    action: CapAction,
    per_affiliate: bool,
    alerts: tuple[int, ...] | None,
) -> Reply:
    """Sets the cap of a program (or, with --per-affiliate, of each affiliate in it),
    replacing the one in force. notify only alerts; fallback sends new clicks to the
    program's fallback URL once the cap is reached; pause stops the offer until the period
    ends. Conversions past a fallback or pause cap are still recorded but earn nothing.
    Periods follow the bot's time zone; weeks start on Monday."""
    scope: CapScope = "affiliate" if per_affiliate else "program"
    async with invocation.database.transaction() as store:
        found = await program_named(store, program)
        limit_value = _limit(limit, metric, found)
        if action == "fallback" and not found.fallback_url:
            raise Refused(
                f"{found.name} has no fallback URL; set one first with "
                f"/program set {found.slug} fallback <url>."
            )
        previous, cap = await store.caps.set(
            NewCap(
                program_id=found.id,
                scope=scope,
                metric=metric,
                period=period,
                limit_value=limit_value,
                action=action,
                alert_percents=alerts or (),
                effective_from=invocation.now,
            ),
            actor=invocation.actor.label,
        )
        await _audit(store, invocation, found, "cap.set", previous, cap)
        told = await _announce(
            store,
            invocation,
            found,
            "cap.set",
            f"New cap: {describe(cap, found)}. When it is reached, {_AFFILIATE_TEXT[action]}.",
        )
    invocation.services.link_changes.changed()
    notes = [f"Replaces: {describe(previous, found)}."] if previous else []
    notes.append(told)
    thresholds = ", ".join(f"{value}%" for value in alerts) if alerts else "the default thresholds"
    notes.append(f"Alerts at {thresholds}.")
    return Reply(
        title=f"Cap set for {found.name}",
        text=f"{describe(cap, found)}. When it is reached, {_ACTION_TEXT[action]}.",
        notes=tuple(notes),
    )


@command(
    "cap off",
    "Remove a program's cap",
    params=[
        Param("program", "The program", parse=slug, autocomplete="program"),
        Param("per_affiliate", "Remove the per-affiliate cap instead", kind=ParamKind.FLAG),
    ],
    audience=Audience.MANAGER,
    examples=("/cap off shop", "/cap off shop --per-affiliate"),
)
async def cap_off(invocation: Invocation, program: str, per_affiliate: bool) -> Reply:
    """Ends the program's cap (or its per-affiliate cap); conversions earn commission
    without limit from now on. The cap stays in the history."""
    scope: CapScope = "affiliate" if per_affiliate else "program"
    async with invocation.database.transaction() as store:
        found = await program_named(store, program)
        ended = await store.caps.end(found.id, scope, at=invocation.now)
        if ended is None:
            kind = "per-affiliate cap" if per_affiliate else "cap"
            raise NotFound(f"{found.name} has no {kind} in force.")
        await _audit(store, invocation, found, "cap.off", ended, None)
        told = await _announce(
            store, invocation, found, "cap.off", f"The cap of {describe(ended, found)} is removed."
        )
    invocation.services.link_changes.changed()
    return Reply(
        title=f"Cap removed from {found.name}",
        text=f"Ended: {describe(ended, found)}.",
        notes=(told,),
    )


@command(
    "cap list",
    "A program's caps and how full they are",
    params=[Param("program", "The program", parse=slug, autocomplete="program")],
    audience=Audience.MANAGER,
    examples=("/cap list shop",),
    private=True,
)
async def cap_list(invocation: Invocation, program: str) -> Reply:
    """Lists the caps in force for a program with the current period's usage (for the
    whole program; per-affiliate caps show their limit)."""
    zone = invocation.settings.timezone
    async with invocation.database.read() as store:
        found = await program_named(store, program)
        usages = await cap_usages(store, found.id, None, invocation.now, zone)
        active = await store.caps.active(found.id)
    if not active:
        return Reply(text=f"{found.name} has no caps.", visibility=Visibility.PRIVATE)
    used = {usage.cap.id: usage.before for usage in usages}
    rows = []
    for cap in active:
        usage = used.get(cap.id)
        shown = "per affiliate" if usage is None else amount(usage, cap, found)
        rows.append((describe(cap, found), cap.action, shown))
    return Reply(
        title=f"Caps of {found.name}",
        table=Table(("cap", "action", "used this period"), tuple(rows)),
        visibility=Visibility.PRIVATE,
    )


_AFFILIATE_TEXT = {
    "notify": "nothing changes for you",
    "fallback": "links send visitors to a fallback page and conversions earn nothing until "
    "the period ends",
    "pause": "the offer pauses and conversions earn nothing until the period ends",
}


async def _announce(
    store: Store, invocation: Invocation, program: Program, action: str, text: str
) -> str:
    """Queue the change for the program's affiliates and the announcement chats, like
    commission changes (``commands.programs.handlers.commission``); returns the note for
    the manager."""
    now = invocation.now
    announcement = Reply(
        title=f"Cap change for {program.name}", text=text, fields=(Field("Program", program.slug),)
    )
    key = f"{action}:{program.id}:{now.isoformat()}"
    members = await notify.program_members(store, program.id)
    queued = await store.outbox.enqueue(
        [
            *await notify.to_affiliates(store, members, announcement, key),
            *notify.to_channels(invocation.settings, announcement, key),
        ],
        now=now,
    )
    return plural(
        len(members),
        "Announced to {n} affiliate ({queued}).",
        "Announced to {n} affiliates ({queued}).",
        queued=plural(queued, "{n} message queued", "{n} messages queued"),
    )


def _limit(text: str, metric: str, program: Program) -> int:
    if metric == "conversions":
        if not re.fullmatch(r"\d{1,9}", text) or int(text) == 0:
            raise UsageError("limit must be a whole number of conversions above zero")
        return int(text)
    try:
        minor = to_minor(
            Decimal(text.upper().removesuffix(program.currency).strip()), program.currency
        )
    except (InvalidOperation, ValueError):
        raise UsageError(
            f"limit must be an amount in {program.currency}, like 500 or 499.99"
        ) from None
    if minor == 0:
        raise UsageError("limit must be more than zero")
    return minor


async def _audit(
    store: Store,
    invocation: Invocation,
    program: Program,
    action: str,
    before: Cap | None,
    after: Cap | None,
) -> None:
    def view(cap: Cap | None) -> dict[str, Any] | None:
        if cap is None:
            return None
        values = asdict(cap)
        values["effective_from"] = cap.effective_from.isoformat()
        values["ended_at"] = cap.ended_at.isoformat() if cap.ended_at else None
        values["alert_percents"] = list(cap.alert_percents)
        return values

    await store.audit.record(
        AuditEntry(
            actor=invocation.actor.label,
            action=action,
            subject=f"program:{program.slug}",
            before=view(before),
            after=view(after),
            occurred_at=invocation.now,
        )
    )
