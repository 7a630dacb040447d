"""Caps: limits on conversions or commission per day, week, month or all time.

Owns the rules the conversion path enforces (``rules``: windows, usage, hard caps, alert
thresholds), how a cap reads (``wording``, ``usage``), when one will be full at the
recent pace (``pacing``), the private alerts queued when one fills up (``alerts``, run by
the scheduler) and the manager commands /cap set|off|list (``handlers``).
"""

from commands.caps.pacing import pacing_lines
from commands.caps.rules import (
    DEFAULT_ALERT_PERCENTS,
    CapUsage,
    cap_usages,
    over_hard_cap,
    reached_hard_cap,
    record_cap_crossings,
    window,
)
from commands.caps.usage import describe_in_force, full_program_caps, usage_lines
from commands.caps.wording import describe

__all__ = [
    "DEFAULT_ALERT_PERCENTS",
    "CapUsage",
    "cap_usages",
    "describe",
    "describe_in_force",
    "full_program_caps",
    "over_hard_cap",
    "pacing_lines",
    "reached_hard_cap",
    "record_cap_crossings",
    "usage_lines",
    "window",
]
