"""/leaderboard: the public top 10, with ties sharing a rank and opt-outs respected.

``board()`` is the one place a leaderboard is computed, so scheduled posts show exactly
what the command shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from commands import periods, points
from commands.catalog import command
from commands.errors import NotFound, Refused
from commands.invocation import Invocation
from commands.money import format_money
from commands.period_keys import period_key
from commands.registry import Param, ParamKind
from commands.reply import Reply, Table, Visibility
from commands.validation import slug
from commands.weekly_post import render_season, season_label
from storage import Store
from storage.affiliates import Affiliate
from storage.performance import RANKING_METRICS, Standing
from storage.rewards import RewardDefaults

TOP = 10
ANONYMOUS = "anonymous"
METRICS = (*RANKING_METRICS, "points")


@dataclass(frozen=True, slots=True)
class Entry:
    rank: int
    affiliate: Affiliate
    value: int


@dataclass(frozen=True, slots=True)
class Board:
    """A computed leaderboard: every ranked entry, and how to show values."""

    title: str
    metric: str
    currency: str | None  # for revenue and commission
    entries: tuple[Entry, ...]

    def shown_value(self, value: int) -> str:
        return format_money(value, self.currency) if self.currency else str(value)

    def public_reply(self) -> Reply:
        """The top 10 (more when ties share the 10th place), hidden affiliates left out."""
        rows = tuple(
            (f"#{entry.rank}", public_name(entry.affiliate), self.shown_value(entry.value))
            for entry in self.entries
            if entry.rank <= TOP and entry.affiliate.visibility != "hidden"
        )
        if not rows:
            return Reply(title=self.title, text=f"No {self.metric} yet in this period.")
        return Reply(title=self.title, table=Table(("rank", "affiliate", self.metric), rows))

    def position_of(self, affiliate_id: int) -> Entry | None:
        return next((e for e in self.entries if e.affiliate.id == affiliate_id), None)


def public_name(affiliate: Affiliate) -> str:
    """The name a leaderboard may show: the display name, or the alias for those who chose
    one (``anonymous`` without an alias)."""
    if affiliate.visibility == "alias":
        return affiliate.alias or ANONYMOUS
    return affiliate.display_name


def competition_ranks(standings: Sequence[Standing]) -> list[tuple[int, Standing]]:
    """Standard competition ranking: equal values share a rank and the next is skipped
    (1, 2, 2, 4). ``standings`` must be sorted best first."""
    ranked: list[tuple[int, Standing]] = []
    for index, standing in enumerate(standings):
        if ranked and ranked[-1][1].value == standing.value:
            ranked.append((ranked[-1][0], standing))
        else:
            ranked.append((index + 1, standing))
    return ranked


async def board(
    store: Store,
    span: periods.Period,
    metric: str,
    program: str | None,
    *,
    viewer_id: int | None = None,
    include_hidden: bool = False,
    rewards: RewardDefaults | None = None,
) -> Board:
    """Rank affiliates for a period and metric, optionally in one program.

    Hidden affiliates are left out of the ranking, except ``viewer_id`` who still learns
    where they would stand (and managers' reports, with ``include_hidden``). ``points``
    ranks by reward points, with ``rewards`` as the defaults for programs without rules.

    Raises:
        NotFound: unknown program.
        Refused: a money metric across programs paid in different currencies.
    """
    programs = await store.programs.list()
    if program is not None:
        programs = [p for p in programs if p.slug == program]
        if not programs:
            raise NotFound(f"There is no program called {program}. See /programs.")
    currency = None
    if metric in {"revenue", "commission"}:
        currencies = {p.currency for p in programs}
        if len(currencies) > 1:
            raise Refused(
                f"Programs pay in different currencies ({', '.join(sorted(currencies))}); "
                f"name a program to rank by {metric}."
            )
        currency = next(iter(currencies), "USD")
    program_ids = [p.id for p in programs] if program is not None else None
    if metric == "points":
        click_points = await points.click_points(
            store, [p.id for p in programs], rewards or RewardDefaults()
        )
        standings = await store.rewards.ranking(
            span.start, span.end, click_points, program_ids=program_ids
        )
    else:
        standings = await store.performance.ranking(
            metric, span.start, span.end, program_ids=program_ids
        )
    found = await store.affiliates.get_many(s.affiliate_id for s in standings)
    affiliates = {
        affiliate_id: affiliate
        for affiliate_id, affiliate in found.items()
        if include_hidden or affiliate.visibility != "hidden" or affiliate_id == viewer_id
    }
    kept = [s for s in standings if s.affiliate_id in affiliates]
    entries = tuple(
        Entry(rank, affiliates[standing.affiliate_id], standing.value)
        for rank, standing in competition_ranks(kept)
    )
    scope = programs[0].name if program is not None else "all programs"
    title = f"Top affiliates by {metric}, {span.label} ({scope})"
    return Board(title, metric, currency, entries)


@command(
    "leaderboard",
    "The top 10 affiliates by conversions, revenue, commission, clicks or points",
    params=[
        periods.PERIOD_PARAM,
        Param(
            "metric",
            "conversions, revenue, commission, clicks or points",
            kind=ParamKind.CHOICE,
            choices=METRICS,
            required=False,
            default="conversions",
        ),
        Param(
            "program",
            "Only this program",
            required=False,
            parse=slug,
            autocomplete="program",
        ),
    ],
    examples=(
        "/leaderboard",
        "/leaderboard week revenue spring-sale",
        "/leaderboard month points",
    ),
)
async def leaderboard(
    invocation: Invocation, period: str, metric: str, program: str | None
) -> list[Reply]:
    """Shows the top 10 affiliates for a period (this month unless you name another) by
    conversions, revenue, commission, clicks or reward points, in all programs or one.
    Equal results share a rank. Affiliates who chose an alias appear under it, and those
    who chose to be hidden are left out (see /settings). If you are an affiliate, your own
    position is added in a message only you can see."""
    posted = await posted_season(invocation, period, metric, program)
    if posted is not None:
        return posted
    span = periods.period(period, invocation.now, invocation.settings.timezone)
    async with invocation.database.read() as store:
        viewer = await store.affiliates.by_identity(
            invocation.actor.platform, invocation.actor.user_id
        )
        computed = await board(
            store,
            span,
            metric,
            program,
            viewer_id=viewer.id if viewer else None,
            rewards=invocation.settings.rewards,
        )
    replies = [computed.public_reply()]
    if viewer is not None:
        replies.append(_own_position(computed, viewer))
    return replies


async def posted_season(
    invocation: Invocation, period: str, metric: str, program: str | None
) -> list[Reply] | None:
    """The archived post of a finished week or month, if one was posted.

    Weekly posts rank by conversions and are archived as seasons; showing the archive
    keeps /leaderboard last-week equal to what was posted, even after late conversions
    or reversals. ``None``: nothing was posted for it, so the board is computed live.
    """
    if period not in {"last-week", "last-month"} or metric != "conversions":
        return None
    zone = invocation.settings.timezone
    span = periods.period(period, invocation.now, zone)
    async with invocation.database.read() as store:
        scope = "all"
        if program is not None:
            found = await store.programs.by_slug(program)
            if found is None:
                return None  # the live path answers "no such program"
            scope = f"program:{found.id}"
        season = await store.weekly.season(period_key(span, zone), scope)
        if season is None:
            return None
        viewer = await store.affiliates.by_identity(
            invocation.actor.platform, invocation.actor.user_id
        )
    replies = [render_season(season, season_label(season, zone))]
    if viewer is not None:
        entry = next((e for e in season.entries if e["affiliate_id"] == viewer.id), None)
        text = (
            f"You were #{entry['rank']} with {entry['conversions']:,} conversions."
            if entry is not None
            else "You were not on this board."
        )
        replies.append(Reply(title="Your position", text=text, visibility=Visibility.PRIVATE))
    return replies


def _own_position(computed: Board, viewer: Affiliate) -> Reply:
    entry = computed.position_of(viewer.id)
    if entry is None:
        text = f"You have no {computed.metric} in this period yet. Share your /link to climb."
    else:
        hidden = (
            " You are hidden from the public board (see /settings)."
            if viewer.visibility == "hidden"
            else ""
        )
        text = (
            f"You are #{entry.rank} of {len(computed.entries)} with "
            f"{computed.shown_value(entry.value)} {computed.metric}.{hidden}"
        )
    return Reply(title="Your position", text=text, visibility=Visibility.PRIVATE)
