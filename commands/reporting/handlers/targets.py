"""/target: KPI goals that /stats and the weekly feedback measure affiliates against."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from commands.core.catalog import command
from commands.core.errors import Refused
from commands.core.invocation import Invocation
from commands.core.money import to_minor
from commands.core.programs import program_named
from commands.core.registry import Audience, Param, ParamKind
from commands.core.reply import Reply
from commands.core.validation import slug
from commands.core.who import label, resolve
from commands.reporting.targets import describe
from storage.audit import AuditEntry
from storage.targets import NewTarget, Target

METRICS = ("conversions", "clicks", "revenue", "commission")
TARGET_PERIODS = ("week", "month")
_GROWTH = re.compile(r"^\+(\d{1,4}(?:\.\d{1,2})?)%$")
_NUMBER = re.compile(r"^\d{1,12}(?:\.\d{1,4})?$")


@dataclass(frozen=True, slots=True)
class Goal:
    """What the manager typed: a number, ``+15%`` growth, or ``off``."""

    text: str
    growth_basis_points: int | None = None
    off: bool = False


def _goal(text: str) -> Goal:
    if text.lower() == "off":
        return Goal(text, off=True)
    if match := _GROWTH.match(text):
        basis_points = int(Decimal(match.group(1)) * 100)
        if basis_points == 0:
            raise ValueError("a growth target must be more than +0%")
        return Goal(text, growth_basis_points=basis_points)
    if _NUMBER.match(text) and Decimal(text) > 0:
        return Goal(text)
    raise ValueError(f"{text!r} is not a target: write a number like 20, growth like +15%, or off")


@command(
    "target",
    "Set a KPI target for everyone or one affiliate",
    params=[
        Param(
            "metric",
            "conversions, clicks, revenue or commission",
            kind=ParamKind.CHOICE,
            choices=METRICS,
        ),
        Param(
            "value",
            "A number (20), growth over the previous period (+15%), or off",
            parse=_goal,
            max_length=20,
        ),
        Param("period", "week or month", kind=ParamKind.CHOICE, choices=TARGET_PERIODS),
        Param(
            "who",
            "all (default) or one affiliate: mention, platform user id, alias or #id",
            kind=ParamKind.USER,
            required=False,
            max_length=100,
            autocomplete="affiliate",
        ),
        Param(
            "program",
            "Only count this program (needed for money targets)",
            required=False,
            option=True,
            parse=slug,
            autocomplete="program",
        ),
    ],
    audience=Audience.MANAGER,
    examples=(
        "/target conversions 20 month",
        "/target conversions +15% month @ann",
        "/target revenue 5000 month all --program spring-sale",
        "/target conversions off month",
    ),
)
async def set_target(
    invocation: Invocation,
    metric: str,
    value: Goal,
    period: str,
    who: str | None,
    program: str | None,
) -> Reply:
    """Sets a goal that /stats shows progress against (and weekly feedback mentions): a
    number per week or month, or growth over the previous period like +15%. Money
    targets (revenue, commission) are in a program's currency, so name the program with
    --program. A new target replaces the one for the same metric, program and affiliate;
    off removes it."""
    async with invocation.database.transaction() as store:
        program_id = None
        currency = None
        if program is not None:
            found = await program_named(store, program)
            program_id, currency = found.id, found.currency
        affiliate = None
        if who is not None and who.lower() != "all":
            affiliate = await resolve(store, who, platform=invocation.actor.platform)
        new = _new_target(
            value, metric, period, program_id, affiliate.id if affiliate else None, currency
        )
        ended = await store.targets.replace(
            program_id,
            affiliate.id if affiliate else None,
            metric,
            new,
            now=invocation.now,
            actor=invocation.actor.label,
        )
        if new is None and ended is None:
            raise Refused("There is no such target to remove.")
        await store.audit.record(
            AuditEntry(
                actor=invocation.actor.label,
                action="target.set" if new else "target.remove",
                subject=f"target:{metric}:{program or 'all programs'}:"
                + (f"affiliate:{affiliate.id}" if affiliate else "all"),
                before=_view(ended),
                after=_view_new(new),
                occurred_at=invocation.now,
            )
        )
    whom = label(affiliate) if affiliate else "every affiliate"
    where = f" in {program}" if program else ""
    if new is None:
        return Reply(text=f"Removed the {metric} target for {whom}{where}.")
    shown = Target(0, program_id, None, metric, new.mode, new.value, period, invocation.now)
    return Reply(text=f"Target for {whom}{where}: {describe(shown, currency)}.")


def _new_target(
    goal: Goal,
    metric: str,
    period: str,
    program_id: int | None,
    affiliate_id: int | None,
    currency: str | None,
) -> NewTarget | None:
    if goal.off:
        return None
    if goal.growth_basis_points is not None:
        return NewTarget(
            program_id, affiliate_id, metric, "growth", goal.growth_basis_points, period
        )
    if metric in {"revenue", "commission"}:
        if currency is None:
            raise Refused(
                "Money targets need a program (for its currency): add --program <program>."
            )
        try:
            amount = to_minor(goal.text, currency)
        except ValueError as error:
            raise Refused(f"{error}.") from None
        return NewTarget(program_id, affiliate_id, metric, "absolute", amount, period)
    if "." in goal.text:
        raise Refused(f"A {metric} target is a whole number.")
    return NewTarget(program_id, affiliate_id, metric, "absolute", int(goal.text), period)


def _view(target: Target | None) -> dict[str, object] | None:
    if target is None:
        return None
    return {"mode": target.mode, "value": target.value, "period": target.period}


def _view_new(target: NewTarget | None) -> dict[str, object] | None:
    if target is None:
        return None
    return {"mode": target.mode, "value": target.value, "period": target.period}
