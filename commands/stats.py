"""/stats: the caller's own numbers, shown only to them."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from commands import periods
from commands.catalog import command
from commands.invocation import Invocation
from commands.money import format_money
from commands.registry import Audience, Param, ParamKind
from commands.reply import Reply, Table, Visibility


@command(
    "stats",
    "Your clicks, conversions and commission",
    params=[
        Param(
            "period",
            "today, week, last-week, month, last-month or all",
            kind=ParamKind.CHOICE,
            choices=periods.PERIODS,
            required=False,
            default="month",
        )
    ],
    audience=Audience.AFFILIATE,
    examples=("/stats", "/stats last-week"),
    private=True,
)
async def stats(invocation: Invocation, period: str) -> Reply:
    """Shows your clicks, conversions, conversion rate and commission per program for a
    period (this month unless you name another). Only you can see it."""
    affiliate = invocation.require_affiliate()
    zone = ZoneInfo(affiliate.timezone) if affiliate.timezone else invocation.settings.timezone
    span = periods.period(period, invocation.now, zone)
    async with invocation.database.read() as store:
        totals = await store.performance.affiliate_totals(affiliate.id, span.start, span.end)
        memberships = await store.affiliates.memberships_of(affiliate.id)
    if not totals:
        hint = (
            "Share your link (/link <program>) to start counting."
            if memberships
            else ("Join a program first: /programs.")
        )
        return Reply(
            title=f"Your stats, {span.label}",
            text=f"No clicks or conversions {span.label} yet. {hint}",
            visibility=Visibility.PRIVATE,
        )
    rows = []
    for total in totals:
        rate = f"{total.conversions / total.clicks:.1%}" if total.clicks else "–"
        rows.append(
            (
                total.program_slug,
                str(total.clicks),
                str(total.conversions),
                rate,
                format_money(total.commission_pending_minor, total.currency),
                format_money(total.commission_approved_minor, total.currency),
            )
        )
    return Reply(
        title=f"Your stats, {span.label}",
        table=Table(
            ("program", "clicks", "conversions", "rate", "pending", "approved"), tuple(rows)
        ),
        visibility=Visibility.PRIVATE,
    )
