"""Conversion notices: telling affiliates privately about commission that was approved.

Each affiliate picks with ``/settings notices``: ``instant`` (a message per approved
conversion, queued in the approval's own transaction, so it exists exactly when the
approval committed), ``daily`` (the default: one digest a day of the previous day's
approvals, queued by the scheduler) or ``off``. Only approvals that earn something are
announced: over-cap conversions earn nothing and are not news to celebrate.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo

from commands.core import calendar, notify
from commands.core.money import format_money
from commands.core.reply import Reply, Table, Visibility
from commands.core.words import plural
from storage.outbox import OutgoingMessage
from storage.performance import Approvals
from storage.programs import Program
from storage.store import Store

_FOOTER = "Change how often you hear about commission: /settings notices instant|daily|off."


async def queue_instant_notice(
    store: Store,
    program: Program,
    *,
    conversion_id: int,
    affiliate_id: int | None,
    commission_minor: int,
    currency: str,
    now: datetime,
) -> int:
    """Queue "+12.00 USD commission, program X" if the affiliate asked for instant notices.

    Call it in the transaction that approves the conversion. Returns messages queued.
    """
    if affiliate_id is None or commission_minor <= 0:
        return 0
    affiliate = await store.affiliates.get(affiliate_id)
    if affiliate is None or affiliate.status != "active":
        return 0
    if affiliate.conversion_notices != "instant":
        return 0
    reply = Reply(
        title="Commission approved",
        text=f"+{format_money(commission_minor, currency)} commission, program {program.name}.",
        visibility=Visibility.PRIVATE,
        notes=(_FOOTER,),
    )
    messages = await notify.to_affiliate(store, affiliate_id, reply, f"conversion:{conversion_id}")
    return await store.outbox.enqueue(messages, now=now)


def compose_digest(day: date, approvals: list[Approvals]) -> Reply:
    """One affiliate's digest: a line per program and the total per currency."""
    totals: dict[str, int] = defaultdict(int)
    for item in approvals:
        totals[item.currency] += item.commission_minor
    total = ", ".join(format_money(minor, currency) for currency, minor in sorted(totals.items()))
    count = sum(item.conversions for item in approvals)
    return Reply(
        title=f"Commission approved on {day.isoformat()}",
        text=f"+{total} commission from {plural(count, '{n} conversion', '{n} conversions')}.",
        table=Table(
            ("program", "conversions", "commission"),
            tuple(
                (
                    item.program_name,
                    str(item.conversions),
                    format_money(item.commission_minor, item.currency),
                )
                for item in approvals
            ),
        ),
        visibility=Visibility.PRIVATE,
        notes=(_FOOTER,),
    )


async def digest_messages(store: Store, day: date, zone: ZoneInfo) -> list[OutgoingMessage]:
    """The daily digests for ``day`` (local to ``zone``), one per affiliate and account.

    The dedupe key names the day (``digest:2026-11-21:affiliate-42``), so running it
    again, or on two processes, queues each digest once.
    """
    span = calendar.day_window(day, zone)
    by_affiliate: dict[int, list[Approvals]] = defaultdict(list)
    for item in await store.performance.approvals(span.start, span.end, notices="daily"):
        by_affiliate[item.affiliate_id].append(item)
    messages: list[OutgoingMessage] = []
    for affiliate_id, approvals in by_affiliate.items():
        reply = compose_digest(day, approvals)
        key = f"digest:{day.isoformat()}:affiliate-{affiliate_id}"
        messages += await notify.to_affiliate(store, affiliate_id, reply, key)
    return messages


async def queue_digests(store: Store, day: date, zone: ZoneInfo, *, now: datetime) -> int:
    """Queue the digests of ``day``; returns how many messages were new."""
    return await store.outbox.enqueue(await digest_messages(store, day, zone), now=now)
