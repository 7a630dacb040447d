"""/settings: how an affiliate appears on leaderboards and what the bot sends them."""

from __future__ import annotations

import re
import zoneinfo

from commands.core.catalog import command
from commands.core.errors import Refused, UsageError
from commands.core.invocation import Invocation
from commands.core.registry import Audience, Param, ParamKind
from commands.core.reply import Field, Reply, Visibility
from storage import Conflict
from storage.affiliates import Affiliate

KEYS = ("visibility", "alias", "feedback", "timezone", "notices")
# The /settings key → the affiliate column it changes.
_COLUMNS = {"notices": "conversion_notices"}
# Letters (any script), digits, space, _ . -; at least one letter; no @ or # so an alias
# can never read as a mention or an affiliate id.
_ALIAS = re.compile(r"^(?=.*[^\W\d_])[\w .-]{2,32}$")
_CLEAR = frozenset({"none", "off", "-"})
# The answer to a change, one whole sentence per key: "notices" takes "are", the others
# "is", and each reads as the person knows it ("time zone", not "timezone").
_CHANGED = {
    "visibility": "Your leaderboard visibility is now {value}.",
    "alias": "Your alias is now {value}.",
    "feedback": "Your feedback is now {value}.",
    "timezone": "Your time zone is now {value}.",
    "notices": "Your commission notices are now {value}.",
}


@command(
    "settings",
    "Your leaderboard visibility, alias, feedback and commission messages, time zone",
    params=[
        Param(
            "key",
            "visibility, alias, feedback, timezone or notices",
            kind=ParamKind.CHOICE,
            choices=KEYS,
            required=False,
        ),
        Param(
            "value",
            "The new value (leave out to see the current one)",
            required=False,
            greedy=True,
            max_length=64,
        ),
    ],
    audience=Audience.AFFILIATE,
    examples=(
        "/settings",
        "/settings visibility alias",
        "/settings alias DealHunter",
        "/settings feedback off",
        "/settings notices instant",
        "/settings timezone Europe/Berlin",
    ),
    private=True,
)
async def settings(invocation: Invocation, key: str | None, value: str | None) -> Reply:
    """Shows or changes your settings. visibility: public (leaderboards show your name),
    alias (they show your alias, or anonymous) or hidden (your place shows as (hidden),
    without your name). alias: the
    name shown instead of yours, 2-32 letters, digits, spaces, _ . or - (none removes it).
    feedback: weekly private performance messages, weekly or off. notices: a private
    message for approved commission, instant (each one), daily (one digest a day, the
    default) or off. timezone: where your
    days and weeks start, like Europe/Berlin."""
    affiliate = invocation.require_affiliate()
    if key is None:
        return _show(affiliate)
    if value is None:
        return _show(affiliate, only=key)
    clean = _validate(key, value)
    try:
        async with invocation.database.transaction() as store:
            if key == "alias" and clean is not None:
                holder = await store.affiliates.by_alias(clean)
                if holder is not None and holder.id != affiliate.id:
                    raise Refused(f"The alias {clean} is taken; choose another.")
            column = _COLUMNS.get(key, key)
            await store.affiliates.set_preferences(affiliate.id, **{column: clean})
    except Conflict:
        raise Refused(f"The alias {clean} is taken; choose another.") from None
    shown = clean if clean is not None else "none"
    return Reply(text=_CHANGED[key].format(value=shown), visibility=Visibility.PRIVATE)


def _validate(key: str, value: str) -> str | None:
    if key == "visibility":
        return _choice(key, value, ("public", "alias", "hidden"))
    if key == "feedback":
        return _choice(key, value, ("weekly", "off"))
    if key == "notices":
        return _choice(key, value, ("instant", "daily", "off"))
    if key == "timezone":
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise UsageError(
                f"{value!r} is not a time zone: use a name like Europe/Berlin or UTC"
            ) from None
        return value
    if value.lower() in _CLEAR:
        return None
    if not _ALIAS.match(value):
        raise UsageError(
            "an alias is 2-32 letters, digits, spaces, _ . or -, with at least one letter"
        )
    return value.strip()


def _choice(key: str, value: str, allowed: tuple[str, ...]) -> str:
    lowered = value.lower()
    if lowered not in allowed:
        raise UsageError(f"{key} must be one of: {', '.join(allowed)}")
    return lowered


def _show(affiliate: Affiliate, only: str | None = None) -> Reply:
    values = {
        "visibility": affiliate.visibility,
        "alias": affiliate.alias or "none",
        "feedback": affiliate.feedback,
        "notices": affiliate.conversion_notices,
        "timezone": affiliate.timezone or "the bot's",
    }
    shown = [only] if only else list(KEYS)
    return Reply(
        title="Your settings",
        fields=tuple(Field(key, values[key]) for key in shown),
        notes=("Change one with /settings <key> <value>.",),
        visibility=Visibility.PRIVATE,
    )
