"""/stats: the caller's own numbers, shown only to them."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

from commands.caps import usage_lines
from commands.core import calendar
from commands.core.catalog import command
from commands.core.invocation import Invocation
from commands.core.money import format_money, format_percent
from commands.core.registry import Audience
from commands.core.reply import Field, Reply, Table, Visibility
from commands.reporting.campaigns import own_campaign_lines
from commands.reporting.leaderboard import board
from commands.reporting.targets import progress_lines
from storage import Store
from storage.performance import ProgramTotals


@command(
    "stats",
    "Your clicks, conversions and commission",
    params=[calendar.PERIOD_PARAM],
    audience=Audience.AFFILIATE,
    examples=("/stats", "/stats last-week"),
    private=True,
)
async def stats(invocation: Invocation, period: str) -> Reply:
    """Shows your numbers per program for a period (this month unless you name another):
    clicks (all, and unique visitors), conversions, conversion rate, revenue, commission
    pending and approved, and earnings per click (EPC). Below: your rank by conversions,
    the change against the same stretch of the previous period, your progress towards
    targets, how much of any cap is used, your campaign links side by side (clicks,
    conversions and commission earned per campaign, see /link), and Discord server joins
    through your invites (for information: they earn nothing). Only you can see it."""
    affiliate = invocation.require_affiliate()
    zone = calendar.affiliate_zone(affiliate.timezone, invocation.settings.timezone)
    span = calendar.period(period, invocation.now, zone)
    async with invocation.database.read() as store:
        totals = await store.performance.affiliate_totals(affiliate.id, span.start, span.end)
        clicks = await store.clicks.counts_for_affiliate(affiliate.id, span.start, span.end)
        memberships = await store.affiliates.memberships_of(affiliate.id)
        fields = await _extra_fields(store, invocation, affiliate.id, span, totals, zone)
        fields += await joins_field(store, affiliate.id, span)
        campaigns = own_campaign_lines(
            await store.campaigns.totals(span.start, span.end, affiliate_id=affiliate.id)
        )
    if campaigns:
        fields += (Field("Campaigns", "\n".join(campaigns), inline=False),)
    title = f"Your stats, {span.label}"
    if not totals:
        hint = (
            "Share your link (/link <program>) to start counting."
            if memberships
            else "Join a program first: /programs."
        )
        return Reply(
            title=title,
            text=f"No clicks or conversions {span.label} yet. {hint}",
            fields=fields,
            visibility=Visibility.PRIVATE,
        )
    unique = {count.program_id: count.unique for count in clicks}
    rows = tuple(_row(total, unique.get(total.program_id, 0)) for total in totals)
    return Reply(
        title=title,
        table=Table(
            (
                "program",
                "clicks",
                "unique",
                "conv.",
                "rate",
                "revenue",
                "pending",
                "approved",
                "EPC",
            ),
            rows,
        ),
        fields=fields,
        visibility=Visibility.PRIVATE,
    )


async def joins_field(store: Store, affiliate_id: int, span: calendar.Period) -> tuple[Field, ...]:
    """Discord members who joined through the affiliate's invites: shown, never paid."""
    joins = await store.server_joins.counts_for_affiliate(affiliate_id, span.start, span.end)
    if joins.joined == 0:
        return ()
    left = f" ({joins.left} left again)" if joins.left else ""
    return (
        Field(
            "Server joins",
            f"{joins.joined} joined through your invites{left}. For information only: "
            "joins earn no commission.",
            inline=False,
        ),
    )


def _row(total: ProgramTotals, unique: int) -> tuple[str, ...]:
    earned = total.commission_pending_minor + total.commission_approved_minor
    return (
        total.program_slug,
        str(total.clicks),
        str(unique),
        str(total.conversions),
        _rate(total.conversions, total.clicks),
        format_money(total.revenue_minor, total.currency),
        format_money(total.commission_pending_minor, total.currency),
        format_money(total.commission_approved_minor, total.currency),
        format_money(per_click(earned, total.clicks), total.currency) if total.clicks else "–",
    )


def per_click(amount_minor: int, clicks: int) -> int:
    """Earnings per click in minor units, rounded half-even."""
    exact = Decimal(amount_minor) / Decimal(clicks)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _rate(conversions: int, clicks: int) -> str:
    return f"{conversions / clicks:.1%}" if clicks else "–"


async def _extra_fields(
    store: Store,
    invocation: Invocation,
    affiliate_id: int,
    span: calendar.Period,
    totals: list[ProgramTotals],
    zone: ZoneInfo,
) -> tuple[Field, ...]:
    fields = []
    ranked = await board(store, span, "conversions", None)
    placed = ranked.position_of(affiliate_id)
    if placed is not None:
        fields.append(
            Field("Rank", f"#{placed.rank} of {len(ranked.entries)} by conversions", inline=False)
        )
    previous = calendar.previous_span(span, zone)
    if previous is not None and totals:
        before = await store.performance.affiliate_totals(affiliate_id, *previous)
        fields.append(Field("Change", _change(totals, before), inline=False))
    target_lines = await progress_lines(store, affiliate_id, invocation.now, zone)
    if target_lines:
        fields.append(Field("Targets", "\n".join(target_lines), inline=False))
    memberships = await store.affiliates.memberships_of(affiliate_id)
    program_ids = [m.program_id for m in memberships if m.status == "approved"]
    caps = await store.performance.caps_in_force(program_ids, invocation.now)
    if caps:
        programs = {p.id: p for p in await store.programs.list() if p.id in program_ids}
        lines = await usage_lines(
            store,
            caps,
            currency_of={i: p.currency for i, p in programs.items()},
            slug_of={i: p.slug for i, p in programs.items()},
            now=invocation.now,
            zone=invocation.settings.timezone,
            affiliate_id=affiliate_id,
        )
        fields.append(Field("Caps", "\n".join(lines), inline=False))
    return tuple(fields)


def _change(now: list[ProgramTotals], before: list[ProgramTotals]) -> str:
    parts = [
        f"clicks {_delta(sum(t.clicks for t in now), sum(t.clicks for t in before))}",
        "conversions "
        + _delta(sum(t.conversions for t in now), sum(t.conversions for t in before)),
    ]
    currencies = {t.currency for t in [*now, *before]}
    if len(currencies) == 1:
        currency = currencies.pop()
        current = sum(t.commission_pending_minor + t.commission_approved_minor for t in now)
        earlier = sum(t.commission_pending_minor + t.commission_approved_minor for t in before)
        parts.append(
            f"commission {format_money(current, currency)} (was {format_money(earlier, currency)})"
        )
    return "; ".join(parts) + " — against the same stretch of the previous period"


def _delta(current: int, earlier: int) -> str:
    if earlier == 0:
        return f"{current} (was 0)"
    change = (current - earlier) * 10_000 // earlier
    sign = "+" if change >= 0 else "−"
    return f"{current} ({sign}{format_percent(abs(change))}, was {earlier})"
