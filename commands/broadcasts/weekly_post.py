"""The weekly leaderboard post: top 10, movers, newcomers, milestones and badges, archived.

A posted period is archived as a season the first time it is composed; every later
composition of the same period (a second channel, a re-post, ``/leaderboard last-week``)
shows the archive, so late conversions or reversals never rewrite what was posted.
The ranking is ``commands.reporting.board``, the one /leaderboard, /stats and feedback
use, so a post never disagrees with them: affiliates who chose to be hidden keep their
place as ``(hidden)`` (and are never named in the post's news); those who chose an alias
appear under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from commands.core.calendar import Period, period_key, previous
from commands.reporting import board, public_name, render_season, season_label
from commands.rewards import award_weekly_badges
from storage.outbox import OutgoingMessage
from storage.rewards import RewardDefaults
from storage.schedules import ScheduleTarget
from storage.store import Store
from storage.weekly import Season

MILESTONES = (10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000)


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
    slug = None
    if program_id is not None:
        program = await store.programs.get(program_id)
        if program is None:
            raise ValueError(f"no program {program_id} to rank")
        slug = program.slug
    current = await board(store, span, "conversions", slug)
    before = previous(span, zone)
    earlier: dict[int, int] = {}
    if before is not None and before.start is not None:
        earlier = {
            entry.affiliate.id: entry.rank
            for entry in (await board(store, before, "conversions", slug)).entries
        }
    totals_before = await store.weekly.conversions_before(span.start)
    totals_after = await store.weekly.conversions_before(span.end)
    badges = await store.rewards.badges_between(span.start, span.end)
    entries: list[dict[str, Any]] = []
    for entry in current.entries:
        affiliate_id = entry.affiliate.id
        crossed = [
            m
            for m in MILESTONES
            if totals_before.get(affiliate_id, 0) < m <= totals_after.get(affiliate_id, 0)
        ]
        entries.append(
            {
                "rank": entry.rank,
                "affiliate_id": affiliate_id,
                "name": public_name(entry.affiliate),
                "hidden": entry.affiliate.visibility == "hidden",
                "conversions": entry.value,
                "previous_rank": earlier.get(affiliate_id),
                "milestone": crossed[-1] if crossed else None,
                "badges": badges.get(affiliate_id, []),
            }
        )
    if "-W" in key:  # a week: top 3 and streak badges, told privately, shouted out next week
        await award_weekly_badges(
            store,
            [(entry["rank"], entry["affiliate_id"]) for entry in entries],
            span.start,
            span.end,
            key,
            defaults=RewardDefaults(),
            now=now,
        )
    return await store.weekly.save_season(key, scope, span.start, span.end, entries, now=now)


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
