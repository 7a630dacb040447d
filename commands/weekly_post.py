"""The weekly leaderboard post: top 10, movers, newcomers, milestones and badges, archived.

A posted period is archived as a season the first time it is composed; every later
composition of the same period (a second channel, a re-post, ``/leaderboard last-week``)
shows the archive, so late conversions or reversals never rewrite what was posted.
Affiliates who chose to be hidden are left out of public rankings; those who chose an
alias appear under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from commands import badges as reward_badges
from commands.period_keys import period_key, previous
from commands.periods import Period
from commands.reply import Reply, Table
from storage.outbox import OutgoingMessage
from storage.rewards import RewardDefaults
from storage.schedules import ScheduleTarget
from storage.store import Store
from storage.weekly import Season, Standing

TOP = 10
MILESTONES = (10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000)


@dataclass(frozen=True, slots=True)
class Ranked:
    rank: int
    standing: Standing


def rank(standings: Sequence[Standing]) -> list[Ranked]:
    """Competition ranking by conversions (1, 2, 2, 4): ties share a place."""
    ranked: list[Ranked] = []
    for index, standing in enumerate(standings):
        if ranked and ranked[-1].standing.conversions == standing.conversions:
            ranked.append(Ranked(ranked[-1].rank, standing))
        else:
            ranked.append(Ranked(index + 1, standing))
    return ranked


def public(standings: Sequence[Standing]) -> list[Standing]:
    return [s for s in standings if s.visibility != "hidden"]


async def archive_season(
    store: Store,
    span: Period,
    zone: ZoneInfo,
    *,
    now: datetime,
    program_id: int | None = None,
) -> Season:
    """The season of ``span``: archived now if it was never posted, else as posted.

    Args:
        store: the unit of work (the archive is written in it).
        span: the reported period; it must have a start.
        zone: the calendar the period key is named in.
        now: when the archive is made.
        program_id: rank one program only (scope ``program:<id>``), or all of them.
    """
    if span.start is None:
        raise ValueError("a leaderboard season needs a period with a start")
    key = period_key(span, zone)
    scope = "all" if program_id is None else f"program:{program_id}"
    existing = await store.weekly.season(key, scope)
    if existing is not None:
        return existing
    current = rank(
        public(await store.weekly.standings(span.start, span.end, program_id=program_id))
    )
    before = previous(span, zone)
    earlier: dict[int, int] = {}
    if before is not None and before.start is not None:
        previous_standings = await store.weekly.standings(
            before.start, before.end, program_id=program_id
        )
        earlier = {r.standing.affiliate_id: r.rank for r in rank(public(previous_standings))}
    totals_before = await store.weekly.conversions_before(span.start)
    totals_after = await store.weekly.conversions_before(span.end)
    badges = await store.rewards.badges_between(span.start, span.end)
    entries: list[dict[str, Any]] = []
    for ranked in current:
        standing = ranked.standing
        crossed = [
            m
            for m in MILESTONES
            if totals_before.get(standing.affiliate_id, 0)
            < m
            <= totals_after.get(standing.affiliate_id, 0)
        ]
        entries.append(
            {
                "rank": ranked.rank,
                "affiliate_id": standing.affiliate_id,
                "name": standing.name,
                "conversions": standing.conversions,
                "previous_rank": earlier.get(standing.affiliate_id),
                "milestone": crossed[-1] if crossed else None,
                "badges": badges.get(standing.affiliate_id, []),
            }
        )
    if "-W" in key:  # a week: top 3 and streak badges, told privately, shouted out next week
        await reward_badges.weekly(
            store,
            [(entry["rank"], entry["affiliate_id"]) for entry in entries],
            span.start,
            span.end,
            key,
            defaults=RewardDefaults(),
            now=now,
        )
    return await store.weekly.save_season(key, scope, span.start, span.end, entries, now=now)


def render_season(season: Season, label: str) -> Reply:
    """The public post for an archived season: top 10 table and a few lines of news."""
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
    movers = sorted(
        (e for e in top if e["previous_rank"] is not None and e["previous_rank"] > e["rank"]),
        key=lambda e: (e["rank"] - e["previous_rank"], e["rank"]),
    )[:3]
    if movers:
        notes.append(
            "Biggest climbers: "
            + ", ".join(f"{e['name']} (up {e['previous_rank'] - e['rank']})" for e in movers)
        )
    newcomers = [e["name"] for e in top if e["previous_rank"] is None or e["previous_rank"] > TOP]
    if newcomers and len(newcomers) < len(top):
        notes.append("New in the top 10: " + ", ".join(newcomers))
    milestones = [e for e in season.entries if e["milestone"]]
    for entry in milestones[:5]:
        notes.append(f"Milestone: {entry['name']} passed {entry['milestone']:,} conversions!")
    earned = [e for e in season.entries if e.get("badges")]  # seasons before rewards: none
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


async def leaderboard_messages(
    store: Store,
    span: Period,
    zone: ZoneInfo,
    targets: Sequence[ScheduleTarget],
    *,
    now: datetime,
    broadcast_key: str,
    program_id: int | None = None,
) -> list[OutgoingMessage]:
    """One post per target chat, deduplicated per period, scope and chat."""
    season = await archive_season(store, span, zone, now=now, program_id=program_id)
    reply = render_season(season, season_label(season, zone))
    payload = reply.to_json()
    return [
        OutgoingMessage(
            dedupe_key=f"leaderboard:{season.period_key}:{season.scope}:{t.platform}:{t.chat_id}",
            platform=t.platform,
            target_kind="chat",
            target_id=t.chat_id,
            payload=payload,
            broadcast_key=broadcast_key,
        )
        for t in targets
    ]
