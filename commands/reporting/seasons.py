"""Leaderboard seasons: how a posted week or month ranks and reads.

A season is the archived board of a finished period (see
``commands.broadcasts.weekly_post``, which archives it when it is first posted);
``/leaderboard last-week`` shows the archive, so both read the same.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from commands.core.reply import Reply, Table
from commands.core.words import plural
from commands.reporting.leaderboard import TOP
from storage.weekly import Season


def render_season(season: Season, label: str) -> Reply:
    """The public post for an archived season: top 10 table and a few lines of news.

    Hidden affiliates hold their rows (as ``(hidden)``) but are left out of the news, so
    no climb, milestone or badge points at them.
    """
    top = [entry for entry in season.entries if entry["rank"] <= TOP]
    if not top:
        return Reply(
            title=f"Leaderboard, {label}",
            text="No conversions this time. The top 10 is wide open: share your link!",
        )
    rows = tuple(
        (f"{entry['rank']}", entry["name"], f"{entry['conversions']:,}", _movement(entry))
        for entry in top
    )
    notes = []
    named = [e for e in top if not e.get("hidden")]  # seasons archived before: none hidden
    movers = sorted(
        (e for e in named if e["previous_rank"] is not None and e["previous_rank"] > e["rank"]),
        key=lambda e: (e["rank"] - e["previous_rank"], e["rank"]),
    )[:3]
    if movers:
        notes.append(
            "Biggest climbers: "
            + ", ".join(f"{e['name']} (up {e['previous_rank'] - e['rank']})" for e in movers)
        )
    newcomers = [
        e["name"] for e in named if e["previous_rank"] is None or e["previous_rank"] > TOP
    ]
    if newcomers and len(newcomers) < len(top):
        notes.append("New in the top 10: " + ", ".join(newcomers))
    everyone_named = [e for e in season.entries if not e.get("hidden")]
    milestones = [e for e in everyone_named if e["milestone"]]
    for entry in milestones[:5]:
        notes.append(
            plural(
                entry["milestone"],
                "Milestone: {name} passed {n} conversion!",
                "Milestone: {name} passed {n} conversions!",
                name=entry["name"],
            )
        )
    earned = [e for e in everyone_named if e.get("badges")]  # seasons before rewards: none
    if earned:
        notes.append(
            "New badges: "
            + ", ".join(f"{e['name']} ({', '.join(e['badges'])})" for e in earned[:5])
        )
    return Reply(
        title=f"Leaderboard, {label}",
        table=Table(("#", "affiliate", "conversions", "change"), rows),
        notes=tuple(notes),
    )


def _movement(entry: dict[str, Any]) -> str:
    before = entry["previous_rank"]
    if before is None:
        return "new"
    if before > entry["rank"]:
        return f"▲{before - entry['rank']}"
    if before < entry["rank"]:
        return f"▼{entry['rank'] - before}"
    return "="


def season_label(season: Season, zone: ZoneInfo) -> str:
    """``week 47 (16–22 Nov 2026)`` for weeks; the key itself otherwise."""
    start = season.period_start.astimezone(zone)
    end = (season.period_end - timedelta(microseconds=1)).astimezone(zone)
    if "-W" in season.period_key:
        week = season.period_key.split("-W")[1].lstrip("0")
        return f"week {week} ({start:%d %b}–{end:%d %b %Y})"
    return season.period_key
