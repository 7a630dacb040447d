"""/stats: the caller's own numbers, shown only to them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

from commands import cap_usage, periods, targets
from commands.catalog import command
from commands.invocation import Invocation
from commands.leaderboard import competition_ranks
from commands.money import format_money, format_percent
from commands.registry import Audience
from commands.reply import Field, Reply, Table, Visibility
from storage import Store
from storage.performance import ProgramTotals
from storage.targets import Target


@command(
    "stats",
    "Your clicks, conversions and commission",
    params=[periods.PERIOD_PARAM],
    audience=Audience.AFFILIATE,
    examples=("/stats", "/stats last-week"),
    private=True,
)
async def stats(invocation: Invocation, period: str) -> Reply:
    """Shows your numbers per program for a period (this month unless you name another):
    clicks (all, and unique visitors), conversions, conversion rate, revenue, commission
    pending and approved, and earnings per click (EPC). Below: your rank by conversions,
    the change against the same stretch of the previous period, your progress towards
    targets, how much of any cap is used, and Discord server joins through your invites
    (for information: they earn nothing). Only you can see it."""
    affiliate = invocation.require_affiliate()
    zone = affiliate_zone(affiliate.timezone, invocation.settings.timezone)
    span = periods.period(period, invocation.now, zone)
    async with invocation.database.read() as store:
        totals = await store.performance.affiliate_totals(affiliate.id, span.start, span.end)
        clicks = await store.clicks.counts_for_affiliate(affiliate.id, span.start, span.end)
        memberships = await store.affiliates.memberships_of(affiliate.id)
        fields = await _extra_fields(store, invocation, affiliate.id, span, totals, zone)
        fields += await joins_field(store, affiliate.id, span)
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


def affiliate_zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    """The affiliate's own time zone, or the bot's."""
    return ZoneInfo(name) if name else default


async def joins_field(store: Store, affiliate_id: int, span: periods.Period) -> tuple[Field, ...]:
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
    span: periods.Period,
    totals: list[ProgramTotals],
    zone: ZoneInfo,
) -> tuple[Field, ...]:
    fields = []
    standings = await store.performance.ranking("conversions", span.start, span.end)
    for rank, standing in competition_ranks(standings):
        if standing.affiliate_id == affiliate_id:
            fields.append(
                Field("Rank", f"#{rank} of {len(standings)} by conversions", inline=False)
            )
    previous = previous_span(span, zone)
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
        lines = await cap_usage.usage_lines(
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


def previous_span(span: periods.Period, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
    """The same stretch of the period before: this month so far (18 days) compares with
    the first 18 days of last month. ``None`` for ``all``."""
    if span.start is None:
        return None
    local = span.start.astimezone(zone).replace(tzinfo=None)
    if span.name in {"month", "last-month"}:
        earlier = (local - timedelta(days=1)).replace(day=1)
    else:
        earlier = local - timedelta(days=1 if span.name == "today" else 7)
    start = earlier.replace(tzinfo=zone).astimezone(UTC)
    return start, min(start + (span.end - span.start), span.start)


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


async def progress_lines(
    store: Store, affiliate_id: int, now: datetime, zone: ZoneInfo
) -> list[str]:
    """Progress to each target in force for the affiliate, in the target's period that
    contains ``now`` (``/stats`` and the weekly feedback show these lines)."""
    lines = []
    programs = {p.id: p for p in await store.programs.list()}
    for target in await store.targets.in_force(affiliate_id=affiliate_id):
        span = periods.period("week" if target.period == "week" else "month", now, zone)
        totals = await store.performance.affiliate_totals(affiliate_id, span.start, span.end)
        current = metric_value(totals, target)
        currency = programs[target.program_id].currency if target.program_id else None
        where = f" in {programs[target.program_id].slug}" if target.program_id else ""
        if target.mode == "absolute":
            share = current * 100 // target.value
            shown = format_money(current, currency) if currency and _money(target) else current
            lines.append(f"{shown} of {targets.describe(target, currency)}{where} ({share}%)")
            continue
        previous = previous_span(span, zone)
        before = (
            metric_value(await store.performance.affiliate_totals(affiliate_id, *previous), target)
            if previous
            else 0
        )
        goal = targets.describe(target, currency)
        if before == 0:
            lines.append(f"{goal}{where}: nothing last {target.period} to compare with yet")
        else:
            growth = (current - before) * 10_000 // before
            sign = "+" if growth >= 0 else "−"
            lines.append(f"{goal}{where}: {sign}{format_percent(abs(growth))} so far")
    return lines


def _money(target: Target) -> bool:
    return target.metric in {"revenue", "commission"}


def metric_value(totals: list[ProgramTotals], target: Target) -> int:
    """A target's metric summed over the programs it covers."""
    chosen = [t for t in totals if target.program_id in {None, t.program_id}]
    if target.metric == "clicks":
        return sum(t.clicks for t in chosen)
    if target.metric == "conversions":
        return sum(t.conversions for t in chosen)
    if target.metric == "revenue":
        return sum(t.revenue_minor for t in chosen)
    return sum(t.commission_pending_minor + t.commission_approved_minor for t in chosen)
