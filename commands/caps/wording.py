"""How a cap reads to managers and in alerts: ``100 conversions per month, per affiliate``."""

from __future__ import annotations

from commands.core.money import format_money
from commands.core.words import plural
from storage.caps import Cap
from storage.programs import Program


def describe(cap: Cap, program: Program) -> str:
    """``100 conversions per month`` / ``500.00 USD commission per week, per affiliate``."""
    limit = amount(cap.limit_value, cap, program)
    what = limit if cap.metric == "conversions" else f"{limit} commission"
    span = "in all" if cap.period == "all" else f"per {cap.period}"
    scope = ", per affiliate" if cap.scope == "affiliate" else ""
    return f"{what} {span}{scope}"


def amount(value: int, cap: Cap, program: Program) -> str:
    """A usage or limit in the cap's metric: ``3 conversions`` or ``12.00 USD``."""
    if cap.metric == "conversions":
        return plural(value, "{n} conversion", "{n} conversions")
    return format_money(value, program.currency)
