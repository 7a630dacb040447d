"""Programs: the list affiliates browse and the manager commands that create them."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from zoneinfo import ZoneInfo

from commands.caps import describe_in_force, full_program_caps
from commands.core.catalog import command
from commands.core.errors import Refused
from commands.core.invocation import Invocation
from commands.core.money import (
    Rate,
    check_currency,
    format_money,
    is_amount_with_currency,
    parse_rate,
)
from commands.core.registry import Audience, Param, ParamKind
from commands.core.reply import Reply, Table
from commands.core.validation import destination_url, slug
from commands.core.words import plural
from storage import Conflict
from storage.audit import AuditEntry
from storage.performance import CapInForce
from storage.programs import Commission, NewProgram, Program


def describe_rate(commission: Commission) -> str:
    rate = Rate(commission.kind, commission.value, commission.currency)
    return rate.describe()


@command(
    "programs",
    "Open programs you can join, with their commission",
    examples=("/programs",),
)
async def list_programs(invocation: Invocation) -> Reply:
    """Lists every active program: its commission (and any change already scheduled, with
    the day it starts), any caps (and whether one is reached: a reached hard cap pauses
    the program until its period ends), how long a click counts (the attribution window)
    and whether a manager must approve new affiliates."""
    now = invocation.now
    zone = invocation.settings.timezone
    async with invocation.database.read() as store:
        open_programs = await store.programs.list(status="active")
        caps = await store.performance.caps_in_force(
            [program.id for program in open_programs], now
        )
        rows = []
        for program in open_programs:
            commission = await store.programs.commission_at(program.id, now)
            upcoming = _scheduled(await store.programs.commission_history(program.id), now)
            full = await full_program_caps(store, program.id, now=now, zone=zone)
            program_caps = [
                describe_in_force(cap, program.currency) + _reached(cap, full, zone)
                for cap in caps
                if cap.program_id == program.id
            ]
            rate = describe_rate(commission) if commission else "not set"
            rows.append(
                (
                    program.slug,
                    program.name,
                    "; ".join([rate, *(_from(change, zone) for change in upcoming)]),
                    "; ".join(program_caps) or "none",
                    plural(program.attribution_days, "{n} day", "{n} days"),
                    "approval" if program.approval_required else "instant",
                )
            )
    if not rows:
        return Reply(
            text="There are no open programs yet."
            + (
                " Add one with /program add <slug> <destination-url> <commission>."
                if invocation.actor.is_manager
                else ""
            )
        )
    return Reply(
        title="Open programs",
        table=Table(("program", "name", "commission", "caps", "window", "joining"), tuple(rows)),
        notes=("Join one with /join <program>.",),
    )


def _scheduled(history: list[Commission], now: datetime) -> list[Commission]:
    """Changes that start after ``now``, one per start (a later entry for the same start
    replaces an earlier one, as ``commission_at`` reads them), soonest first."""
    by_start = {change.effective_from: change for change in history if change.effective_from > now}
    return [by_start[start] for start in sorted(by_start)]


def _from(change: Commission, zone: ZoneInfo) -> str:
    """``from 2026-12-01: 15% of the sale`` (with the time when it is not midnight)."""
    local = change.effective_from.astimezone(zone)
    when = (
        f"{local:%Y-%m-%d}" if (local.hour, local.minute) == (0, 0) else f"{local:%Y-%m-%d %H:%M}"
    )
    return f"from {when}: {describe_rate(change)}"


def _reached(cap: CapInForce, full: dict[int, datetime | None], zone: ZoneInfo) -> str:
    """`` (reached)`` after a full cap; a hard one says until when the program pauses."""
    if cap.id not in full:
        return ""
    if cap.action == "notify":
        return " (reached)"
    end = full[cap.id]
    until = (
        f"{end.astimezone(zone):%a %d %b %H:%M}"
        if end is not None
        else "a manager raises or removes it"
    )
    return f" (reached: paused until {until})"


@command(
    "program add",
    "Create a program affiliates can join",
    params=[
        Param("slug", "Short name affiliates type, like spring-sale", parse=slug, max_length=32),
        Param(
            "destination_url",
            "Where clicks go (http or https)",
            kind=ParamKind.URL,
            parse=destination_url,
            max_length=2000,
        ),
        Param(
            "commission",
            "12% of each sale, or a flat 5 USD per conversion",
            parse=parse_rate,
            absorbs=is_amount_with_currency,
        ),
        Param("name", "Display name (defaults to the slug)", required=False, max_length=100),
        Param(
            "currency",
            "Currency of sales and payouts (default USD, or the flat commission's)",
            required=False,
            option=True,
            parse=check_currency,
            max_length=3,
        ),
        Param(
            "fallback_url",
            "Where clicks go while the program is paused or capped",
            kind=ParamKind.URL,
            required=False,
            option=True,
            parse=destination_url,
            max_length=2000,
        ),
        Param(
            "window",
            "Attribution window in days (default 30)",
            kind=ParamKind.INTEGER,
            required=False,
            option=True,
            minimum=1,
            maximum=365,
            default=30,
        ),
        Param("approval", "New affiliates wait for a manager's approval", kind=ParamKind.FLAG),
    ],
    audience=Audience.MANAGER,
    examples=(
        '/program add spring-sale https://shop.example/spring 12% "Spring Sale"',
        "/program add app https://app.example/signup 5 USD --approval",
    ),
)
async def add_program(
    invocation: Invocation,
    slug: str,
    destination_url: str,
    commission: Rate,
    name: str | None,
    currency: str | None,
    fallback_url: str | None,
    window: int,
    approval: bool,
) -> Reply:
    """Creates a program. The commission is a percentage of each sale (12%) or a flat
    amount per conversion (5 USD). Options: --currency, --fallback-url, --window
    (attribution days) and --approval (new affiliates wait for a manager)."""
    if commission.currency and currency and commission.currency != currency:
        raise Refused(
            f"The commission is in {commission.currency} but the program currency is "
            f"{currency}; use one currency."
        )
    program_currency = commission.currency or currency or "USD"
    rate = Commission(commission.kind, commission.value, program_currency, invocation.now)
    new = NewProgram(
        slug=slug,
        name=name or slug,
        destination_url=destination_url,
        currency=program_currency,
        commission=rate,
        fallback_url=fallback_url,
        approval_required=approval,
        attribution_days=window,
    )
    try:
        async with invocation.database.transaction() as store:
            program = await store.programs.add(
                new, now=invocation.now, actor=invocation.actor.label
            )
            await store.audit.record(
                AuditEntry(
                    actor=invocation.actor.label,
                    action="program.add",
                    subject=f"program:{program.slug}",
                    before=None,
                    after=_audit_view(program, rate),
                    occurred_at=invocation.now,
                )
            )
    except Conflict:
        raise Refused(f"A program called {slug} exists already.") from None
    return Reply(
        title=f"Program {program.slug} created",
        text=plural(
            program.attribution_days,
            "{name}: {rate}, attribution window {n} day, {joining}",
            "{name}: {rate}, attribution window {n} days, {joining}",
            name=program.name,
            rate=describe_rate(rate),
            joining="joining needs approval." if program.approval_required else "open to join.",
        ),
        notes=(f"Affiliates join with /join {program.slug}.",),
    )


def _audit_view(program: Program, rate: Commission) -> dict[str, object]:
    view = {
        key: value
        for key, value in asdict(program).items()
        if key not in {"created_at", "updated_at", "materials", "settings"}
    }
    view["commission"] = {"kind": rate.kind, "value": rate.value, "currency": rate.currency}
    view["min_payout"] = format_money(program.min_payout_minor, program.currency)
    return view
