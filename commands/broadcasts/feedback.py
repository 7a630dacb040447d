"""Private weekly feedback: each affiliate's numbers, their trend and one concrete tip.

Composed for everyone at once from a few grouped queries (``storage.weekly``), queued to
each affiliate's accounts as private messages. Someone with nothing to report gets a
short nudge, never a wall of zeros. Affiliates switch it off with ``/settings feedback off``
(the ``affiliates.feedback`` column).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from commands.caps import pacing_lines, usage_lines
from commands.core.calendar import Period, day_boundaries, period_key, previous
from commands.core.money import format_money
from commands.core.reply import Field, Image, Reply, Table, Visibility
from commands.core.words import plural
from commands.reporting import TOP, board, daily_bars, progress_lines
from storage.outbox import OutgoingMessage
from storage.performance import CapInForce
from storage.store import Store
from storage.weekly import PeriodTotals

# Conversion-rate comparisons only mean something with enough traffic behind them.
MIN_CLICKS_FOR_RATE = 30
MIN_PEERS_FOR_MEDIAN = 3
CLOSE_TO_TOP = 5  # conversions short of the top 10 worth a tip


@dataclass(frozen=True, slots=True)
class ProgramLine:
    slug: str
    clicks: int
    conversions: int
    median_rate: float | None  # of affiliates with enough clicks in this program


@dataclass(frozen=True, slots=True)
class FeedbackNumbers:
    """Everything one feedback message says, computed before any wording."""

    label: str
    clicks: int
    conversions: int
    previous_clicks: int
    previous_conversions: int
    pending: dict[str, int]  # currency → minor units
    approved: dict[str, int]
    rank: int | None = None
    previous_rank: int | None = None
    short_of_top: int | None = None  # conversions more it would have taken to reach the top
    programs: tuple[ProgramLine, ...] = ()
    daily: tuple[tuple[int, int], ...] = ()
    day_names: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()  # progress lines, as /stats shows them
    caps: tuple[str, ...] = ()  # cap usage lines
    pacing: tuple[str, ...] = ()  # when each cap fills at the period's pace

    @property
    def rate(self) -> float | None:
        return self.conversions / self.clicks if self.clicks else None


def change(current: int, before: int) -> str:
    """``+25%``, ``−40%``, ``×12`` (ten times or more), ``same``; ``new`` from nothing."""
    if before == 0:
        return "new" if current else "–"
    if current >= before * 10:  # a multiple reads better than "+123456788900%"
        return f"×{current / before:,.0f}"
    percent = round((current - before) / before * 100)
    if percent == 0:
        return "same"
    return f"+{percent}%" if percent > 0 else f"−{-percent}%"


def _no_clicks(numbers: FeedbackNumbers) -> str | None:
    if numbers.clicks:
        return None
    return (
        "Nobody clicked your link this time. Post it where your audience already talks "
        "(a pinned message, your bio, a short review), and use /materials for ready-made "
        "texts and banners."
    )


def _weak_conversion(numbers: FeedbackNumbers) -> str | None:
    for line in numbers.programs:
        if (
            line.clicks >= MIN_CLICKS_FOR_RATE
            and line.median_rate
            and line.conversions / line.clicks < line.median_rate / 2
        ):
            return (
                plural(
                    line.clicks,
                    "Your {slug} link got {n} click but converted at {rate}, under half the "
                    "program's typical {typical}.",
                    "Your {slug} link got {n} clicks but converted at {rate}, under half the "
                    "program's typical {typical}.",
                    slug=line.slug,
                    rate=f"{line.conversions / line.clicks:.1%}",
                    typical=f"{line.median_rate:.1%}",
                )
                + " Check where that traffic comes from and whether "
                "your post promises what the landing page offers."
            )
    return None


def _close_to_top(numbers: FeedbackNumbers) -> str | None:
    more = numbers.short_of_top
    if more is None or not 0 < more <= CLOSE_TO_TOP:
        return None
    return (
        plural(
            more,
            "{n} more conversion would have put you in the top {top}.",
            "{n} more conversions would have put you in the top {top}.",
            top=TOP,
        )
        + " One more push this week could get you on the leaderboard."
    )


def _dropping(numbers: FeedbackNumbers) -> str | None:
    if (
        numbers.previous_conversions < 3
        or numbers.conversions > numbers.previous_conversions * 0.7
    ):
        return None
    best = _best_day(numbers)
    when = f" Your best day was {best}: post again around then." if best else ""
    return f"Conversions dropped compared with the period before.{when}"


def _clicks_without_sales(numbers: FeedbackNumbers) -> str | None:
    if numbers.conversions:
        return None
    return (
        plural(
            numbers.clicks, "{n} click but no conversion yet.", "{n} clicks but no conversion yet."
        )
        + " Tell people what they get and why now; a personal recommendation converts better "
        "than a bare link."
    )


def _growing(numbers: FeedbackNumbers) -> str | None:
    if numbers.conversions <= numbers.previous_conversions:
        return None
    best = _best_day(numbers)
    when = f" ({best} was your best day)" if best else ""
    return f"You are growing{when}. Keep doing what worked and share your link again."


# First match wins: the most specific, most useful advice comes first.
_TIPS = (_no_clicks, _weak_conversion, _close_to_top, _dropping, _clicks_without_sales, _growing)


def choose_tip(numbers: FeedbackNumbers) -> str:
    """One concrete suggestion, picked by the first rule the numbers match."""
    for rule in _TIPS:
        tip = rule(numbers)
        if tip is not None:
            return tip
    return "Steady results. Try your link in one new place this week and compare."


def _best_day(numbers: FeedbackNumbers) -> str | None:
    if not numbers.daily or not numbers.day_names:
        return None
    best = max(range(len(numbers.daily)), key=lambda i: (numbers.daily[i][1], numbers.daily[i][0]))
    if numbers.daily[best] == (0, 0):
        return None
    return numbers.day_names[best]


def _money(amounts: dict[str, int]) -> str:
    shown = [format_money(minor, currency) for currency, minor in sorted(amounts.items()) if minor]
    return ", ".join(shown) if shown else "–"


def compose_feedback(numbers: FeedbackNumbers) -> Reply:
    """The private message for one affiliate (plain parts; adapters render them)."""
    if numbers.clicks == 0 and numbers.conversions == 0:
        return Reply(
            title=f"Your results, {numbers.label}",
            text=f"Nothing to report {numbers.label}. {choose_tip(numbers)}",
            visibility=Visibility.PRIVATE,
            notes=(
                "Get your link with /link <program>. Stop these messages: /settings feedback off.",
            ),
        )
    rate = numbers.rate
    fields = [
        Field("Clicks", f"{numbers.clicks:,} ({change(numbers.clicks, numbers.previous_clicks)})"),
        Field(
            "Conversions",
            f"{numbers.conversions:,} "
            f"({change(numbers.conversions, numbers.previous_conversions)})",
        ),
        Field("Conversion rate", f"{rate:.1%}" if rate is not None else "–"),
        Field("Commission pending", _money(numbers.pending)),
        Field("Commission approved", _money(numbers.approved)),
    ]
    if numbers.rank is not None:
        fields.append(Field("Rank", f"#{numbers.rank}{_rank_change(numbers)}"))
    for name, lines in (
        ("Targets", numbers.targets),
        ("Cap usage", numbers.caps),
        ("Cap pacing", numbers.pacing),
    ):
        if lines:
            fields.append(Field(name, "\n".join(lines), inline=False))
    table = None
    if len(numbers.programs) > 1:
        table = Table(
            ("program", "clicks", "conversions", "rate"),
            tuple(
                (
                    line.slug,
                    f"{line.clicks:,}",
                    f"{line.conversions:,}",
                    f"{line.conversions / line.clicks:.1%}" if line.clicks else "–",
                )
                for line in numbers.programs
            ),
        )
    image = None
    if numbers.daily and any(day != (0, 0) for day in numbers.daily):
        image = Image(
            daily_bars(numbers.daily),
            "daily.png",
            "Clicks (light) and conversions (dark) per day",
        )
    return Reply(
        title=f"Your results, {numbers.label}",
        text=f"Tip: {choose_tip(numbers)}",
        fields=tuple(fields),
        table=table,
        image=image,
        visibility=Visibility.PRIVATE,
        notes=("Only you get this message. Stop these messages: /settings feedback off.",),
    )


def _rank_change(numbers: FeedbackNumbers) -> str:
    if numbers.previous_rank is None or numbers.rank is None:
        return ""
    moved = numbers.previous_rank - numbers.rank
    if moved > 0:
        return f" (up {moved})"
    if moved < 0:
        return f" (down {-moved})"
    return " (same)"


async def feedback_messages(
    store: Store,
    span: Period,
    zone: ZoneInfo,
    *,
    platforms: set[str],
    now: datetime,
    broadcast_key: str,
) -> list[OutgoingMessage]:
    """Feedback for every affiliate who wants it, one message per platform account.

    Args:
        store: the unit of work to read from.
        span: the reported period (``last-week`` normally); it must have a start.
        zone: the calendar for days and period names.
        platforms: platforms with a running dispatcher; other accounts are not messaged.
        now: queuing time.
        broadcast_key: groups the messages for ``/delivery``.
    """
    if span.start is None:
        raise ValueError("feedback needs a period with a start")
    recipients = [
        r
        for r in await store.weekly.feedback_recipients()
        if any(p in platforms for p, _ in r.accounts)
    ]
    if not recipients:
        return []
    before = previous(span, zone)
    current = _by_affiliate(await store.weekly.totals(span.start, span.end))
    earlier = (
        _by_affiliate(await store.weekly.totals(before.start, before.end))
        if before is not None and before.start is not None
        else {}
    )
    # The public board's ranks (hidden affiliates included), so a DM never disagrees with it.
    ranks = {e.affiliate.id: e for e in (await board(store, span, "conversions", None)).entries}
    # What the last place in a full top 10 had: matching it ties you into the top 10.
    top_ten = [e.value for e in ranks.values() if e.rank <= TOP]
    top_threshold = min(top_ten) if len(top_ten) >= TOP else None
    previous_ranks: dict[int, int] = {}
    if before is not None and before.start is not None:
        previous_ranks = {
            e.affiliate.id: e.rank
            for e in (await board(store, before, "conversions", None)).entries
        }
    medians = _median_rates(current)
    boundaries = day_boundaries(span, zone)
    daily = await store.weekly.daily(boundaries, [r.affiliate_id for r in recipients])
    day_names = tuple(b.astimezone(zone).strftime("%A") for b in boundaries[:-1])
    key = period_key(span, zone)
    limits = await _Limits.load(store, now)
    messages = []
    for recipient in recipients:
        mine = current.get(recipient.affiliate_id, [])
        theirs_before = earlier.get(recipient.affiliate_id, [])
        placed = ranks.get(recipient.affiliate_id)
        conversions = sum(t.conversions for t in mine)
        short = (
            top_threshold - conversions
            if top_threshold is not None and (placed is None or placed.rank > TOP)
            else None
        )
        pending: dict[str, int] = defaultdict(int)
        approved: dict[str, int] = defaultdict(int)
        for total in mine:
            pending[total.currency] += total.commission_pending_minor
            approved[total.currency] += total.commission_approved_minor
        numbers = FeedbackNumbers(
            label=span.label,
            clicks=sum(t.clicks for t in mine),
            conversions=conversions,
            previous_clicks=sum(t.clicks for t in theirs_before),
            previous_conversions=sum(t.conversions for t in theirs_before),
            pending=dict(pending),
            approved=dict(approved),
            rank=placed.rank if placed else None,
            previous_rank=previous_ranks.get(recipient.affiliate_id),
            short_of_top=short,
            programs=tuple(
                ProgramLine(t.program_slug, t.clicks, t.conversions, medians.get(t.program_id))
                for t in mine
            ),
            daily=tuple(daily.get(recipient.affiliate_id, ())),
            day_names=day_names,
            **await limits.lines(store, recipient.affiliate_id, span, zone, now=now),
        )
        payload = compose_feedback(numbers).to_json()
        for platform, user_id in recipient.accounts:
            if platform not in platforms:
                continue
            messages.append(
                OutgoingMessage(
                    dedupe_key=f"feedback:{key}:affiliate-{recipient.affiliate_id}:{platform}",
                    platform=platform,
                    target_kind="user",
                    target_id=user_id,
                    payload=payload,
                    broadcast_key=broadcast_key,
                )
            )
    return messages


@dataclass(frozen=True, slots=True)
class _Limits:
    """Caps in force and who is approved where, read once for the whole run."""

    caps: list[CapInForce]
    programs: dict[int, tuple[str, str]]  # id → (slug, currency)
    member_of: dict[int, set[int]]  # affiliate id → approved program ids

    @classmethod
    async def load(cls, store: Store, now: datetime) -> _Limits:
        programs = {p.id: (p.slug, p.currency) for p in await store.programs.list()}
        memberships = await store.affiliates.memberships_with_status("approved")
        member_of: dict[int, set[int]] = defaultdict(set)
        for membership in memberships:
            member_of[membership.affiliate_id].add(membership.program_id)
        caps = await store.performance.caps_in_force(list(programs), now)
        return cls(caps, programs, dict(member_of))

    async def lines(
        self, store: Store, affiliate_id: int, span: Period, zone: ZoneInfo, *, now: datetime
    ) -> dict[str, tuple[str, ...]]:
        """Target progress (in the reported period), cap usage and pacing (as of now).

        The same code as /stats, so the two never disagree.
        """
        # Targets are measured in their period containing the reported period's end.
        targets = await progress_lines(
            store, affiliate_id, span.end - timedelta(microseconds=1), zone
        )
        mine = [c for c in self.caps if c.program_id in self.member_of.get(affiliate_id, ())]
        if not mine or span.start is None:
            return {"targets": tuple(targets)}
        slug_of = {i: slug for i, (slug, _) in self.programs.items()}
        currency_of = {i: currency for i, (_, currency) in self.programs.items()}
        usage = await usage_lines(
            store,
            mine,
            currency_of=currency_of,
            slug_of=slug_of,
            now=now,
            zone=zone,
            affiliate_id=affiliate_id,
        )
        pacing = await pacing_lines(
            store,
            mine,
            slug_of=slug_of,
            currency_of=currency_of,
            now=now,
            zone=zone,
            pace=(span.start, span.end),
            affiliate_id=affiliate_id,
            pace_name=f"{span.label}'s",
        )
        return {"targets": tuple(targets), "caps": tuple(usage), "pacing": tuple(pacing)}


def _by_affiliate(totals: Sequence[PeriodTotals]) -> dict[int, list[PeriodTotals]]:
    grouped: dict[int, list[PeriodTotals]] = defaultdict(list)
    for total in totals:
        grouped[total.affiliate_id].append(total)
    return grouped


def _median_rates(current: dict[int, list[PeriodTotals]]) -> dict[int, float]:
    rates: dict[int, list[float]] = defaultdict(list)
    for totals in current.values():
        for total in totals:
            if total.clicks >= MIN_CLICKS_FOR_RATE:
                rates[total.program_id].append(total.conversions / total.clicks)
    return {
        program: statistics.median(values)
        for program, values in rates.items()
        if len(values) >= MIN_PEERS_FOR_MEDIAN
    }
