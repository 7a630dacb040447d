"""/commission: change a program's commission, keep the history, tell everyone concerned."""

from __future__ import annotations

import re
from datetime import date, datetime

from commands.core import calendar, notify
from commands.core.catalog import command
from commands.core.errors import Refused
from commands.core.invocation import Invocation
from commands.core.money import Rate, is_amount_with_currency, parse_rate
from commands.core.programs import program_named
from commands.core.registry import Audience, Param
from commands.core.reply import Field, Reply
from commands.core.validation import slug
from commands.core.words import plural
from commands.programs.handlers.listing import describe_rate
from storage.audit import AuditEntry
from storage.programs import Commission

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# "now" or "today" typed explicitly; the handler knows the clock, the parser does not.
IMMEDIATELY = date.min


def _effective(text: str) -> date:
    """A calendar date like 2026-12-01 (midnight in the bot's time zone), or now/today."""
    if text.lower() in {"now", "today"}:
        return IMMEDIATELY
    if not _DATE.match(text):
        raise ValueError(f"{text!r} is not a date: write it as YYYY-MM-DD, like 2026-12-01")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text} is not a real date") from None


@command(
    "commission",
    "Change a program's commission (announced to its affiliates)",
    params=[
        Param("program", "The program", parse=slug, autocomplete="program"),
        Param(
            "value",
            "12% of each sale, or a flat 5 USD per conversion",
            parse=parse_rate,
            absorbs=is_amount_with_currency,
        ),
        Param(
            "effective_from",
            "The day it starts, YYYY-MM-DD (default: now)",
            required=False,
            parse=_effective,
            max_length=10,
        ),
    ],
    audience=Audience.MANAGER,
    examples=("/commission spring-sale 15%", "/commission app 6 USD 2026-12-01"),
)
async def change_commission(
    invocation: Invocation, program: str, value: Rate, effective_from: date | None
) -> Reply:
    """Sets a new commission from now or from a future day (midnight in the bot's time
    zone). Conversions before that keep the rate that was in force when they happened.
    The program's affiliates are told privately and the announcement channels publicly,
    old rate to new rate and from when."""
    now = invocation.now
    starts = _start(effective_from, now, invocation)
    async with invocation.database.transaction() as store:
        found = await program_named(store, program)
        if value.currency is not None and value.currency != found.currency:
            raise Refused(f"{found.slug} pays in {found.currency}; give the amount in it.")
        old = await store.programs.commission_at(found.id, starts)
        new = Commission(value.kind, value.value, found.currency, starts)
        if old is not None and (old.kind, old.value) == (new.kind, new.value):
            raise Refused(f"{found.slug} already pays {describe_rate(old)} then.")
        await store.programs.set_commission(found.id, new, now=now, actor=invocation.actor.label)
        await store.audit.record(
            AuditEntry(
                actor=invocation.actor.label,
                action="program.commission",
                subject=f"program:{found.slug}",
                before=_view(old),
                after=_view(new),
                occurred_at=now,
            )
        )
        when = "now" if starts == now else _local_day(starts, invocation)
        old_text = describe_rate(old) if old else "not set"
        announcement = Reply(
            title=f"New commission for {found.name}",
            text=f"{old_text} → {describe_rate(new)}, effective {when}.",
            fields=(Field("Program", found.slug),),
        )
        key = f"commission:{found.id}:{now.isoformat()}"
        members = await notify.program_members(store, found.id)
        queued = await store.outbox.enqueue(
            [
                *await notify.to_affiliates(store, members, announcement, key),
                *notify.to_channels(invocation.settings, announcement, key),
            ],
            now=now,
        )
    return Reply(
        title=f"Commission for {found.slug} changed",
        text=f"{old_text} → {describe_rate(new)}, effective {when}.",
        notes=(
            plural(
                len(members),
                "Announced to {n} affiliate ({queued}).",
                "Announced to {n} affiliates ({queued}).",
                queued=plural(queued, "{n} message queued", "{n} messages queued"),
            ),
        ),
    )


def _start(day: date | None, now: datetime, invocation: Invocation) -> datetime:
    if day is None or day == IMMEDIATELY:
        return now
    zone = invocation.settings.timezone
    if day < now.astimezone(zone).date():
        raise Refused(
            "The start date is in the past; conversions already recorded keep their rate. "
            "Give today or a later day."
        )
    # Today's midnight has passed already: the change starts now.
    return max(calendar.day_window(day, zone).start, now)


def _local_day(moment: datetime, invocation: Invocation) -> str:
    return moment.astimezone(invocation.settings.timezone).date().isoformat()


def _view(commission: Commission | None) -> dict[str, object] | None:
    if commission is None:
        return None
    return {
        "kind": commission.kind,
        "value": commission.value,
        "currency": commission.currency,
        "effective_from": commission.effective_from.isoformat(),
    }
