"""/leaderboard: the public top 10, with ties sharing a rank and opt-outs respected.

The ranking itself is ``commands.reporting.leaderboard.board``, which scheduled posts share.
"""

from __future__ import annotations

from commands.core import calendar
from commands.core.calendar import period_key
from commands.core.catalog import command
from commands.core.invocation import Invocation
from commands.core.registry import Param, ParamKind
from commands.core.reply import Reply, Visibility
from commands.core.validation import slug
from commands.core.words import plural
from commands.reporting.leaderboard import (
    METRICS,
    Board,
    board,
)
from commands.reporting.metric_words import metric_amount
from commands.reporting.seasons import render_season, season_label
from storage.affiliates import Affiliate


@command(
    "leaderboard",
    "The top 10 affiliates by conversions, revenue, commission, clicks or points",
    params=[
        calendar.PERIOD_PARAM,
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
    who chose to be hidden keep their place without a name, as (hidden) (see /settings).
    Everyone sees the same ranks. If you are an affiliate, your own position is added in a
    message only you can see."""
    posted = await posted_season(invocation, period, metric, program)
    if posted is not None:
        return posted
    span = calendar.period(period, invocation.now, invocation.settings.timezone)
    async with invocation.database.read() as store:
        viewer = await store.affiliates.by_identity(
            invocation.actor.platform, invocation.actor.user_id
        )
        computed = await board(store, span, metric, program, rewards=invocation.settings.rewards)
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
    span = calendar.period(period, invocation.now, zone)
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
            plural(
                entry["conversions"],
                "You were #{rank} with {n} conversion.",
                "You were #{rank} with {n} conversions.",
                rank=entry["rank"],
            )
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
            " Your name is hidden on the public board (see /settings)."
            if viewer.visibility == "hidden"
            else ""
        )
        text = (
            f"You are #{entry.rank} of {len(computed.entries):,} with "
            f"{metric_amount(computed.metric, entry.value, computed.currency)}.{hidden}"
        )
    return Reply(title="Your position", text=text, visibility=Visibility.PRIVATE)
