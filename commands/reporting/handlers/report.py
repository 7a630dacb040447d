"""/report: a program's totals and the health of its referral channel, for managers.

Health figures follow the usual definitions, computed from conversions that carry a
``customer_id`` (the only way to follow one customer over time):

- referral rate: of the customers whose first purchase fell in the period, the share whose
  first purchase came through an affiliate;
- CAC through affiliates: commission earned in the period ÷ customers affiliates brought
  in the period;
- CLV of referred customers: average revenue per referred customer over their history;
- retention: of referred customers acquired at least 3, 6 or 12 months ago, the share who
  bought again that long after their first purchase.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from commands.caps import usage_lines
from commands.core import calendar
from commands.core.catalog import command
from commands.core.invocation import Invocation
from commands.core.money import format_money
from commands.core.programs import program_named
from commands.core.registry import Audience, Param
from commands.core.reply import Field, Reply, Table, Visibility
from commands.core.validation import slug
from commands.core.who import label
from commands.core.words import plural
from commands.reporting.campaigns import program_campaign_lines
from commands.reporting.leaderboard import board
from storage import Store
from storage.affiliates import Affiliate
from storage.programs import Program
from storage.reports import CustomerHistory, ProgramSummary

RETENTION_MONTHS = (3, 6, 12)
_DAYS_PER_MONTH = 30.44
TOP_AFFILIATES = 5
ROLE_PROBLEMS = 10  # the newest failed reward-role changes shown


@dataclass(frozen=True, slots=True)
class Health:
    currency: str
    new_customers: int
    new_referred: int
    commission_minor: int
    referred_customers: int
    referred_revenue_minor: int
    retention: dict[int, tuple[int, int]]  # months -> (retained, eligible)

    def lines(self) -> list[str]:
        rate = _share(self.new_referred, self.new_customers)
        cac = (
            format_money(self.commission_minor // self.new_referred, self.currency)
            if self.new_referred
            else "– (no referred customers in the period)"
        )
        clv = (
            format_money(self.referred_revenue_minor // self.referred_customers, self.currency)
            if self.referred_customers
            else "– (no referred customers yet)"
        )
        retention = ", ".join(
            plural(
                months,
                "{n} month {share}",
                "{n} months {share}",
                share=_share(*self.retention[months]),
            )
            for months in RETENTION_MONTHS
        )
        return [
            plural(
                self.new_customers,
                "Referral rate: {rate} ({referred} of {n} new customer)",
                "Referral rate: {rate} ({referred} of {n} new customers)",
                rate=rate,
                referred=f"{self.new_referred:,}",
            ),
            f"CAC through affiliates: {cac}",
            f"CLV of referred customers: {clv}",
            f"Retention of referred customers: {retention}",
        ]


def health(
    currency: str,
    customers: list[CustomerHistory],
    commission_minor: int,
    start: datetime | None,
    end: datetime,
) -> Health:
    """The referral-health figures for one currency's customers (see the module doc)."""
    new = [c for c in customers if start is None or c.first_at >= start]
    referred = [c for c in customers if c.referred]
    retention = {}
    for months in RETENTION_MONTHS:
        span = timedelta(days=round(months * _DAYS_PER_MONTH))
        eligible = [c for c in referred if c.first_at <= end - span]
        retained = [c for c in eligible if c.last_at - c.first_at >= span]
        retention[months] = (len(retained), len(eligible))
    return Health(
        currency=currency,
        new_customers=len(new),
        new_referred=sum(1 for c in new if c.referred),
        commission_minor=commission_minor,
        referred_customers=len(referred),
        referred_revenue_minor=sum(c.revenue_minor for c in referred),
        retention=retention,
    )


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "–"


@command(
    "report",
    "Program totals, top affiliates, caps and referral health",
    params=[
        calendar.PERIOD_PARAM,
        Param("program", "Only this program", required=False, parse=slug, autocomplete="program"),
    ],
    audience=Audience.MANAGER,
    examples=("/report", "/report last-month spring-sale"),
    private=True,
)
async def report(invocation: Invocation, period: str, program: str | None) -> Reply:
    """Shows each program's clicks, conversions, conversion rate, revenue and commission
    for a period, the top affiliates, campaign links compared (clicks, conversions,
    revenue and commission per program and campaign, over all affiliates), cap usage,
    and the health of the referral channel:
    referral rate (share of new customers who came through affiliates), CAC through
    affiliates (commission ÷ new referred customers), CLV of referred customers (revenue
    per customer over time) and their retention after 3, 6 and 12 months. Customer
    figures need conversions that carry a customer id. Below: Discord server joins
    through the top affiliates' invites (informational, they earn nothing) and how the
    last broadcast was delivered, and Discord reward roles the bot could not change."""
    zone = invocation.settings.timezone
    now = invocation.now
    span = calendar.period(period, now, zone)
    async with invocation.database.read() as store:
        programs = (
            [await program_named(store, program)]
            if program is not None
            else await store.programs.list()
        )
        if not programs:
            return Reply(text="There are no programs yet.", visibility=Visibility.PRIVATE)
        ids = [p.id for p in programs]
        summaries = await store.reports.summaries(ids, span.start, span.end)
        customers = await store.reports.customers(ids, span.end)
        top = await board(store, span, "conversions", program)
        caps = await store.performance.caps_in_force(ids, now)
        cap_lines = await usage_lines(
            store,
            caps,
            currency_of={p.id: p.currency for p in programs},
            slug_of={p.id: p.slug for p in programs},
            now=now,
            zone=zone,
        )
        campaigns = program_campaign_lines(
            await store.campaigns.totals(span.start, span.end, program_ids=ids)
        )
        extra = [
            *await _joins(store, [e.affiliate for e in top.entries[:TOP_AFFILIATES]], span),
            *await _last_broadcast(store),
            *await _role_problems(store),
        ]
    rows = tuple(_row(p, summaries[p.id]) for p in programs)
    fields = []
    leaders = [
        f"{entry.rank}. {label(entry.affiliate)}{_hidden(entry.affiliate)} — {entry.value}"
        for entry in top.entries[:TOP_AFFILIATES]
    ]
    fields.append(
        Field("Top affiliates (conversions)", "\n".join(leaders) or "none yet", inline=False)
    )
    if campaigns:
        fields.append(Field("Campaigns", "\n".join(campaigns), inline=False))
    if cap_lines:
        fields.append(Field("Caps", "\n".join(cap_lines), inline=False))
    for currency in sorted({p.currency for p in programs}):
        in_currency = {p.id for p in programs if p.currency == currency}
        figures = health(
            currency,
            [c for c in customers if c.program_id in in_currency],
            sum(summaries[i].commission_minor for i in in_currency),
            span.start,
            span.end,
        )
        fields.append(
            Field(f"Referral health ({currency})", "\n".join(figures.lines()), inline=False)
        )
    fields += extra
    return Reply(
        title=f"Report, {span.label}" + (f": {program}" if program else ""),
        table=Table(("program", "clicks", "conv.", "rate", "revenue", "commission"), rows),
        fields=tuple(fields),
        visibility=Visibility.PRIVATE,
    )


def _hidden(affiliate: Affiliate) -> str:
    """Managers see every name; this reminds them whom the public board does not name."""
    return " (hidden on public boards)" if affiliate.visibility == "hidden" else ""


async def _joins(store: Store, leaders: list[Affiliate], span: calendar.Period) -> list[Field]:
    """Discord server joins through the top affiliates' invites (informational)."""
    lines = []
    for affiliate in leaders:
        joins = await store.server_joins.counts_for_affiliate(affiliate.id, span.start, span.end)
        if joins.joined:
            lines.append(f"{label(affiliate)}: {joins.joined} joined, {joins.left} left")
    if not lines:
        return []
    lines.append("Shown for information: joins earn no commission.")
    return [Field("Server joins (top affiliates)", "\n".join(lines), inline=False)]


async def _last_broadcast(store: Store) -> list[Field]:
    """How the last broadcast went, failures first (the same counts as /delivery)."""
    broadcast = await store.outbox.latest_broadcast()
    if broadcast is None:
        return []
    counts = await store.outbox.counts(broadcast.key)
    failures = counts.failed + counts.skipped
    text = (
        f"{counts.sent:,} sent, {counts.queued + counts.sending:,} queued, "
        f"{failures:,} not delivered "
        f"({counts.unreachable:,} unreachable). Details: /delivery"
    )
    return [Field("Last broadcast", text, inline=False)]


async def _role_problems(store: Store) -> list[Field]:
    """Discord reward roles the bot could not grant or remove, with Discord's reason, so a
    manager can fix the bot's permissions or role order."""
    problems = await store.reward_roles.problems(limit=ROLE_PROBLEMS)
    if not problems:
        return []
    lines = [
        f"{change.action} role {change.role_id} for affiliate #{change.affiliate_id}: "
        f"{change.error or 'refused'}"
        for change in problems
    ]
    return [Field("Discord reward roles that failed", "\n".join(lines), inline=False)]


def _row(program: Program, summary: ProgramSummary) -> tuple[str, ...]:
    rate = f"{summary.conversions / summary.clicks:.1%}" if summary.clicks else "–"
    return (
        program.slug,
        str(summary.clicks),
        str(summary.conversions),
        rate,
        format_money(summary.revenue_minor, program.currency),
        format_money(summary.commission_minor, program.currency),
    )
