"""Crontab lines as people write them, made unambiguous for APScheduler 3.

Standard cron numbers weekdays from Sunday (0 or 7 = Sunday, 1 = Monday), but
APScheduler 3's ``CronTrigger.from_crontab`` reads 0 as Monday (its documented historical
mistake). Numeric weekdays are therefore rewritten to names (``1-5`` → ``mon-fri``)
before a line is stored or scheduled, so ``0 9 * * 1`` means Monday 09:00 as in any cron.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NUMBER = re.compile(r"^[0-7]$")


def normalise(line: str) -> str:
    """Validate a five-field crontab line and return it with weekday names.

    Raises:
        ValueError: with a sentence saying what is wrong.
    """
    fields = line.split()
    if len(fields) != 5:
        raise ValueError(
            f"a schedule needs 5 fields (minute hour day month weekday), like "
            f"'0 9 * * mon'; got {len(fields)}"
        )
    fields[4] = ",".join(_weekday_part(part) for part in fields[4].lower().split(","))
    normalised = " ".join(fields)
    try:
        CronTrigger.from_crontab(normalised, timezone=ZoneInfo("UTC"))
    except ValueError as error:
        raise ValueError(f"{line!r} is not a valid schedule: {error}") from None
    return normalised


def trigger(line: str, timezone: str) -> CronTrigger:
    """An APScheduler trigger for a normalised line in ``timezone``."""
    built: CronTrigger = CronTrigger.from_crontab(normalise(line), timezone=ZoneInfo(timezone))
    return built


def _weekday_part(part: str) -> str:
    body, slash, step = part.partition("/")
    low, dash, high = body.partition("-")
    if not dash:
        return _name(low) + slash + step
    if _NUMBER.match(low) and _NUMBER.match(high) and not slash:
        first, last = int(low), int(high)
        if first == 0 and last >= 6:
            return "*"
        if first == 0:  # Sunday first: APScheduler weeks start on Monday
            return f"mon-{_NAMES[last]},sun" if last > 1 else "mon,sun"
    return f"{_name(low)}-{_name(high)}{slash}{step}"


def _name(token: str) -> str:
    return _NAMES[int(token)] if _NUMBER.match(token) else token
