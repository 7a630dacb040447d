"""Targets (KPI goals): how a goal reads, and how far an affiliate has come toward it.

``/stats`` and the weekly feedback show the same progress lines.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from commands.core import calendar
from commands.core.money import format_money, format_percent
from commands.reporting.metric_words import metric_amount
from storage import Store
from storage.performance import ProgramTotals
from storage.targets import Target


async def progress_lines(
    store: Store, affiliate_id: int, now: datetime, zone: ZoneInfo
) -> list[str]:
    """Progress to each target in force for the affiliate, in the target's period that
    contains ``now`` (``/stats`` and the weekly feedback show these lines)."""
    lines = []
    programs = {p.id: p for p in await store.programs.list()}
    for target in await store.targets.in_force(affiliate_id=affiliate_id):
        span = calendar.period("week" if target.period == "week" else "month", now, zone)
        totals = await store.performance.affiliate_totals(affiliate_id, span.start, span.end)
        current = metric_value(totals, target)
        currency = programs[target.program_id].currency if target.program_id else None
        where = f" in {programs[target.program_id].slug}" if target.program_id else ""
        if target.mode == "absolute":
            share = current * 100 // target.value
            shown = format_money(current, currency) if currency and _money(target) else current
            lines.append(f"{shown} of {describe(target, currency)}{where} ({share}%)")
            continue
        previous = calendar.previous_span(span, zone)
        before = (
            metric_value(await store.performance.affiliate_totals(affiliate_id, *previous), target)
            if previous
            else 0
        )
        goal = describe(target, currency)
        if before == 0:
            lines.append(f"{goal}{where}: nothing last {target.period} to compare with yet")
        else:
            growth = (current - before) * 10_000 // before
            sign = "+" if growth >= 0 else "−"
            lines.append(f"{goal}{where}: {sign}{format_percent(abs(growth))} so far")
    return lines


def _money(target: Target) -> bool:
    return target.metric in {"revenue", "commission"}


def metric_value(totals: list[ProgramTotals], target: Target) -> int:
    """A target's metric summed over the programs it covers."""
    chosen = [t for t in totals if target.program_id in {None, t.program_id}]
    if target.metric == "clicks":
        return sum(t.clicks for t in chosen)
    if target.metric == "conversions":
        return sum(t.conversions for t in chosen)
    if target.metric == "revenue":
        return sum(t.revenue_minor for t in chosen)
    return sum(t.commission_pending_minor + t.commission_approved_minor for t in chosen)


def describe(target: Target, currency: str | None) -> str:
    """``20 conversions a month`` or ``+15% conversions vs last month``."""
    if target.mode == "growth":
        return f"+{format_percent(target.value)} {target.metric} vs last {target.period}"
    return f"{metric_amount(target.metric, target.value, currency)} a {target.period}"
