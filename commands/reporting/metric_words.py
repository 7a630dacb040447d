"""A metric's value in words, as leaderboards, targets and positions say it."""

from __future__ import annotations

from commands.core.money import format_money
from commands.core.words import plural

# Counted metrics take the plural form that fits the number; money metrics are amounts.
_COUNTED = {
    "clicks": ("{n} click", "{n} clicks"),
    "conversions": ("{n} conversion", "{n} conversions"),
    "points": ("{n} point", "{n} points"),
}


def metric_amount(metric: str, value: int, currency: str | None) -> str:
    """``1 conversion``, ``3 clicks``, ``12.00 USD commission``."""
    if metric in _COUNTED:
        return plural(value, *_COUNTED[metric])
    return f"{format_money(value, currency or 'USD')} {metric}"
