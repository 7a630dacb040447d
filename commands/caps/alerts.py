"""Cap alerts: turning recorded cap events into private messages, soon after they happen.

The tracking rules record a cap event in the conversion's own transaction (unique per
cap, subject, period and threshold, so a threshold alerts once). This module reads the
events no alert was queued for yet, queues the messages and marks the events notified,
all in one transaction: a crash in between leaves the events unnotified, and dedupe keys
(``cap-alert:<event id>:…``) make a second pass, or a second process, queue nothing new.

Who hears about it: managers always. Affiliates only when the cap changes something for
them, i.e. a hard cap (``fallback`` or ``pause``): the affiliate whose own cap it is, or
every approved member of the program for a program-wide cap. A ``notify`` cap is the
managers' business only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from commands.caps.wording import describe
from commands.core import notify
from commands.core.money import format_money
from commands.core.reply import Field, Reply, Visibility
from commands.core.who import label
from storage.caps import Cap, CapEvent
from storage.outbox import OutgoingMessage
from storage.programs import Program
from storage.store import Store

log = logging.getLogger(__name__)

BATCH = 100


async def queue_cap_alerts(
    store: Store,
    managers: Sequence[tuple[str, str]],
    *,
    now: datetime,
    limit: int = BATCH,
) -> int:
    """Queue alerts for up to ``limit`` unnotified cap events; returns messages queued.

    Args:
        store: the unit of work; messages and the notified marks commit together.
        managers: (platform, user id) of every manager account to alert.
        now: queuing time.
        limit: events handled in one pass (the rest wait for the next one).
    """
    pending = await store.caps.unnotified_events(limit)
    if not pending:
        return 0
    programs: dict[int, Program | None] = {}
    caps: dict[int, Cap] = {}
    messages: list[OutgoingMessage] = []
    for event_id, event in pending:
        if event.program_id not in programs:
            programs[event.program_id] = await store.programs.get(event.program_id)
            caps.update({cap.id: cap for cap in await store.caps.active(event.program_id)})
        program = programs[event.program_id]
        if program is None:  # pragma: no cover - foreign keys keep events' programs
            continue
        cap = caps.get(event.cap_id)  # None: ended since; only managers still care
        messages += await _messages(store, event_id, event, program, cap, managers)
    queued = await store.outbox.enqueue(messages, now=now)
    await store.caps.mark_notified([event_id for event_id, _ in pending], now=now)
    log.info("cap alerts: %d events, %d messages queued", len(pending), queued)
    return queued


async def _messages(
    store: Store,
    event_id: int,
    event: CapEvent,
    program: Program,
    cap: Cap | None,
    managers: Sequence[tuple[str, str]],
) -> list[OutgoingMessage]:
    key = f"cap-alert:{event_id}"
    used = _amount(event.usage_value, cap, program)
    limit = _amount(event.limit_value, cap, program)
    what = describe(cap, program) if cap is not None else f"{limit} per period"
    full = event.threshold >= 100
    messages: list[OutgoingMessage] = []
    subject = "the program"
    if event.affiliate_id is not None:
        affiliate = await store.affiliates.get(event.affiliate_id)
        subject = label(affiliate) if affiliate else f"#{event.affiliate_id}"
    manager_reply = Reply(
        title=f"Cap alert: {program.slug} at {event.threshold}%",
        text=f"{subject} used {used} of {what} ({event.period_key}).",
        fields=(
            Field("Program", program.slug),
            Field("Action when full", cap.action if cap else "ended"),
        ),
        visibility=Visibility.PRIVATE,
        notes=("See /cap list for every cap of the program.",),
    )
    payload = manager_reply.to_json()
    messages += [
        OutgoingMessage(f"{key}:manager:{platform}:{user_id}", platform, "user", user_id, payload)
        for platform, user_id in managers
    ]
    if cap is None or not cap.hard:
        return messages
    # Named by limit and period: a program can have a program-wide and a personal cap.
    if event.affiliate_id is not None:
        recipients = [event.affiliate_id]
        whose = f"your personal cap of {what}"
    else:
        recipients = await notify.program_members(store, program.id)
        whose = f"its cap of {what}"
    after = "Further conversions this period earn nothing, and " + (
        "your link sends visitors to the fallback page."
        if cap.action == "fallback"
        else "the offer pauses until the period ends."
    )
    text = (
        f"{program.name} has reached {whose} ({used} of {limit}, {event.period_key}). {after}"
        if full
        else f"{program.name} is at {event.threshold}% of {whose} ({used} of {limit}, "
        f"{event.period_key}). When it is full: {after[0].lower()}{after[1:]}"
    )
    affiliate_reply = Reply(title=f"Cap alert: {program.name}", text=text)
    private = await notify.to_affiliates(store, recipients, affiliate_reply, key)
    # Alerts are not a broadcast: /delivery keeps showing the last announcement.
    messages += [replace(message, broadcast_key=None) for message in private]
    return messages


def _amount(value: int, cap: Cap | None, program: Program) -> str:
    """Conversions count; commission caps are in the program's currency. Events carry no
    metric, so an event of a cap that ended meanwhile shows the plain number."""
    if cap is not None and cap.metric == "commission":
        return format_money(value, program.currency)
    return str(value)
