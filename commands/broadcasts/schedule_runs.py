"""Running one due schedule: claim its run, compose its messages, queue them — atomically.

The run record and the queued messages commit in one transaction, and the run is claimed
first: a second firing (a double fire, a catch-up, another process) finds the run taken
and queues nothing, while a crash before the commit leaves neither, so the next start-up
catches the run up.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from commands.broadcasts.feedback import feedback_messages
from commands.broadcasts.weekly_post import leaderboard_messages
from commands.core import calendar
from commands.core.calendar import period_key
from commands.core.money import format_money
from commands.core.reply import Field, Reply, Visibility
from commands.reporting import board, public_name
from storage.outbox import OutgoingMessage
from storage.schedules import Schedule, ScheduleTarget
from storage.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Audiences:
    """Who scheduled messages can reach, built by the composition root from config.

    ``channels``: the configured announcement chats; ``managers``: managers' accounts
    (platform, user id) for reports; ``platforms``: platforms with a running dispatcher.
    """

    channels: tuple[ScheduleTarget, ...] = ()
    managers: tuple[tuple[str, str], ...] = ()
    platforms: frozenset[str] = field(default_factory=frozenset)


def run_key(due: datetime, zone: ZoneInfo) -> str:
    """The run's key in ``schedule_runs``: its due time on the schedule's wall clock.

    Wall-clock time, not UTC: when DST ends, APScheduler fires a 02:30 schedule at both
    02:30s of the repeated hour, and both firings must map to one run.
    """
    return due.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


async def run_schedule(
    store: Store, schedule: Schedule, due: datetime, audiences: Audiences, *, now: datetime
) -> int | None:
    """Queue the messages of ``schedule``'s run due at ``due``.

    Returns how many messages were queued, or ``None`` if this run had already happened.
    """
    zone = ZoneInfo(schedule.timezone)
    key = run_key(due, zone)
    if not await store.schedules.claim_run(schedule.id, key, now=now):
        return None
    span = calendar.period(schedule.period, due, zone)
    broadcast = f"schedule:{schedule.id}:{key}"
    channels = [
        t for t in (schedule.targets or audiences.channels) if t.platform in audiences.platforms
    ]
    messages: list[OutgoingMessage]
    if schedule.kind == "leaderboard":
        messages = await leaderboard_messages(
            store,
            span,
            zone,
            channels,
            now=now,
            broadcast_key=broadcast,
            program_id=schedule.program_id,
        )
    elif schedule.kind == "feedback":
        messages = await feedback_messages(
            store, span, zone, platforms=set(audiences.platforms), now=now, broadcast_key=broadcast
        )
    elif schedule.kind == "announcement":
        reply = Reply(text=schedule.message or "", title="Reminder")
        messages = _to_chats(f"announcement:{schedule.id}:{key}", channels, reply, broadcast)
    else:
        reply = await _report(store, span, zone)
        managers = [m for m in audiences.managers if m[0] in audiences.platforms]
        messages = [
            OutgoingMessage(
                f"report:{schedule.id}:{key}:{platform}:{user_id}",
                platform,
                "user",
                user_id,
                reply.to_json(),
                broadcast,
            )
            for platform, user_id in managers
        ]
        messages += _to_chats(f"report:{schedule.id}:{key}", schedule.targets, reply, broadcast)
    queued = await store.outbox.enqueue(messages, now=now)
    log.info(
        "schedule %d (%s) run %s: %d messages queued", schedule.id, schedule.kind, key, queued
    )
    return queued


def _to_chats(
    prefix: str, targets: Sequence[ScheduleTarget], reply: Reply, broadcast: str
) -> list[OutgoingMessage]:
    payload = reply.to_json()
    return [
        OutgoingMessage(
            f"{prefix}:{t.platform}:{t.chat_id}", t.platform, "chat", t.chat_id, payload, broadcast
        )
        for t in targets
    ]


async def _report(store: Store, span: calendar.Period, zone: ZoneInfo) -> Reply:
    """The managers' summary of a period: traffic, results, money, the top three."""
    if span.start is None:
        raise ValueError("a report needs a period with a start")
    totals = await store.weekly.totals(span.start, span.end)
    pending: dict[str, int] = {}
    approved: dict[str, int] = {}
    for total in totals:
        pending[total.currency] = pending.get(total.currency, 0) + total.commission_pending_minor
        approved[total.currency] = (
            approved.get(total.currency, 0) + total.commission_approved_minor
        )
    clicks = sum(t.clicks for t in totals)
    conversions = sum(t.conversions for t in totals)
    active = len({t.affiliate_id for t in totals})
    top = (await board(store, span, "conversions", None)).entries[:3]
    broadcast = await store.outbox.latest_broadcast()
    fields = [
        Field("Clicks", f"{clicks:,}"),
        Field("Conversions", f"{conversions:,}"),
        Field("Active affiliates", f"{active:,}"),
        Field("Commission pending", _money(pending)),
        Field("Commission approved", _money(approved)),
    ]
    if top:
        fields.append(
            Field(
                "Top affiliates",
                "\n".join(f"{e.rank}. {public_name(e.affiliate)} ({e.value:,})" for e in top),
                inline=False,
            )
        )
    if broadcast is not None:
        counts = await store.outbox.counts(broadcast.key)
        fields.append(
            Field(
                "Last broadcast",
                f"{counts.sent} sent, {counts.failed} failed, {counts.unreachable} unreachable",
                inline=False,
            )
        )
    return Reply(
        title=f"Program report, {span.label} ({period_key(span, zone)})",
        fields=tuple(fields),
        visibility=Visibility.PRIVATE,
    )


def _money(amounts: dict[str, int]) -> str:
    shown = [format_money(minor, currency) for currency, minor in sorted(amounts.items()) if minor]
    return ", ".join(shown) if shown else "–"
