"""Leaderboards: ranking affiliates for a period and metric, with ties and privacy.

``board()`` is the one place a leaderboard is computed, so ``/leaderboard``, /stats,
/report, exports, the weekly post and weekly feedback all show the same ranks to every
viewer. Hidden affiliates keep their place (so nobody's rank depends on who is looking);
only their name is withheld: public views show them as ``(hidden)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from commands.core import calendar
from commands.core.errors import Refused
from commands.core.money import format_money
from commands.core.programs import program_named
from commands.core.reply import Reply, Table
from commands.rewards import click_points
from storage import Store
from storage.affiliates import Affiliate
from storage.performance import RANKING_METRICS, Standing
from storage.rewards import RewardDefaults

TOP = 10
ANONYMOUS = "anonymous"
HIDDEN = "(hidden)"  # parentheses: no alias can look like it (see /settings alias)
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
        """The top 10 (more when ties share the 10th place), hidden affiliates unnamed."""
        rows = tuple(
            (f"#{entry.rank}", public_name(entry.affiliate), self.shown_value(entry.value))
            for entry in self.entries
            if entry.rank <= TOP
        )
        if not rows:
            return Reply(title=self.title, text=f"No {self.metric} yet in this period.")
        return Reply(title=self.title, table=Table(("rank", "affiliate", self.metric), rows))

    def position_of(self, affiliate_id: int) -> Entry | None:
        return next((e for e in self.entries if e.affiliate.id == affiliate_id), None)


def public_name(affiliate: Affiliate) -> str:
    """The name a leaderboard may show: the display name, the alias for those who chose
    one (``anonymous`` without an alias), or ``(hidden)`` for those who chose to hide."""
    if affiliate.visibility == "hidden":
        return HIDDEN
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
    span: calendar.Period,
    metric: str,
    program: str | None,
    *,
    rewards: RewardDefaults | None = None,
) -> Board:
    """Rank every active affiliate for a period and metric, optionally in one program.

    The ranks are the same whoever looks: hidden affiliates are ranked like everyone else,
    and it is for each view to withhold their names (``public_name``). ``points`` ranks by
    reward points, with ``rewards`` as the defaults for programs without rules.

    Raises:
        NotFound: unknown program.
        Refused: a money metric across programs paid in different currencies.
    """
    programs = (
        [await program_named(store, program)]
        if program is not None
        else await store.programs.list()
    )
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
        points_per_click = await click_points(
            store, [p.id for p in programs], rewards or RewardDefaults()
        )
        standings = await store.rewards.ranking(
            span.start, span.end, points_per_click, program_ids=program_ids
        )
    else:
        standings = await store.performance.ranking(
            metric, span.start, span.end, program_ids=program_ids
        )
    affiliates = await store.affiliates.get_many(s.affiliate_id for s in standings)
    kept = [s for s in standings if s.affiliate_id in affiliates]
    entries = tuple(
        Entry(rank, affiliates[standing.affiliate_id], standing.value)
        for rank, standing in competition_ranks(kept)
    )
    scope = programs[0].name if program is not None else "all programs"
    title = f"Top affiliates by {metric}, {span.label} ({scope})"
    return Board(title, metric, currency, entries)
