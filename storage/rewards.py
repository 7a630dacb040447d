"""Reward rules and what affiliates earned under them: tiers, points, badges and bonuses.

Rules are rows a manager edits (``reward_rules``, ``reward_tiers``); a program without a
rules row uses the configured defaults. Earned things are ledgers with unique keys, so
re-processing an event (a retried postback, a concurrent duplicate) never doubles them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import from_row, insert_ignoring_conflicts
from storage.performance import Standing
from storage.schema import (
    clicks,
    conversions,
    links,
    reward_badges,
    reward_bonuses,
    reward_points,
    reward_rules,
    reward_tiers,
    tier_history,
)
from storage.types import UtcDateTime

COUNTED_KINDS = ("sale", "lead")


@dataclass(frozen=True, slots=True)
class RewardDefaults:
    """Points a program awards until a manager sets its own (the ``[rewards]`` config)."""

    points_click: int = 0
    points_signup: int = 1
    points_conversion: int = 10
    milestones: tuple[int, ...] = (1, 10, 50, 100)  # approved conversions earning a badge
    streak_weeks: int = 4  # consecutive weeks with an approved conversion for a badge


@dataclass(frozen=True, slots=True)
class RewardRules:
    program_id: int
    points_click: int
    points_signup: int
    points_conversion: int
    welcome_text: str | None
    qualify_days: int


@dataclass(frozen=True, slots=True)
class Tier:
    """A named tier: ``threshold`` approved conversions in the last ``window_days``."""

    id: int
    program_id: int
    name: str
    threshold: int
    window_days: int
    bonus_bp: int
    bonus_minor: int


@dataclass(frozen=True, slots=True)
class TierState:
    """The tier an affiliate held from ``reached_at`` (``tier`` None: below every tier)."""

    tier: str | None
    bonus_bp: int
    bonus_minor: int
    reached_at: datetime
    history_id: int = 0


@dataclass(frozen=True, slots=True)
class Badge:
    badge: str
    reason: str | None
    awarded_at: datetime


class RewardRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    # Rules -----------------------------------------------------------------------------

    async def rules(self, program_id: int, defaults: RewardDefaults) -> RewardRules:
        """The program's rules, or ``defaults`` when no manager has set any."""
        row = (
            await self._connection.execute(
                select(reward_rules).where(reward_rules.c.program_id == program_id)
            )
        ).first()
        if row is None:
            return RewardRules(
                program_id,
                defaults.points_click,
                defaults.points_signup,
                defaults.points_conversion,
                None,
                0,
            )
        return from_row(RewardRules, row)

    async def save_rules(self, rules: RewardRules, *, now: datetime) -> None:
        """Insert or replace the program's rules row."""
        values: dict[str, Any] = {
            "points_click": rules.points_click,
            "points_signup": rules.points_signup,
            "points_conversion": rules.points_conversion,
            "welcome_text": rules.welcome_text,
            "qualify_days": rules.qualify_days,
            "updated_at": now,
        }
        inserted = await self._connection.execute(
            insert_ignoring_conflicts(self._connection, reward_rules)
            .values(program_id=rules.program_id, **values)
            .returning(reward_rules.c.id)
        )
        if inserted.first() is None:
            await self._connection.execute(
                update(reward_rules)
                .where(reward_rules.c.program_id == rules.program_id)
                .values(**values)
            )

    async def tiers(self, program_id: int) -> list[Tier]:
        """The program's tiers, lowest threshold first."""
        rows = await self._connection.execute(
            select(reward_tiers)
            .where(reward_tiers.c.program_id == program_id)
            .order_by(reward_tiers.c.threshold, reward_tiers.c.id)
        )
        return [from_row(Tier, row) for row in rows]

    async def save_tier(
        self,
        program_id: int,
        name: str,
        threshold: int,
        window_days: int,
        bonus_bp: int,
        bonus_minor: int,
    ) -> None:
        """Create the named tier, or change it if it exists."""
        values = {
            "threshold": threshold,
            "window_days": window_days,
            "bonus_bp": bonus_bp,
            "bonus_minor": bonus_minor,
        }
        inserted = await self._connection.execute(
            insert_ignoring_conflicts(self._connection, reward_tiers)
            .values(program_id=program_id, name=name, **values)
            .returning(reward_tiers.c.id)
        )
        if inserted.first() is None:
            await self._connection.execute(
                update(reward_tiers)
                .where(reward_tiers.c.program_id == program_id)
                .where(reward_tiers.c.name == name)
                .values(**values)
            )

    async def remove_tier(self, program_id: int, name: str) -> bool:
        result = await self._connection.execute(
            delete(reward_tiers)
            .where(reward_tiers.c.program_id == program_id)
            .where(reward_tiers.c.name == name)
        )
        return result.rowcount == 1

    # Tier standing ---------------------------------------------------------------------

    async def tier_at(self, affiliate_id: int, program_id: int, at: datetime) -> TierState | None:
        """The tier in force at ``at``: the latest change reached at or before it."""
        row = (
            await self._connection.execute(
                select(tier_history)
                .where(tier_history.c.affiliate_id == affiliate_id)
                .where(tier_history.c.program_id == program_id)
                .where(tier_history.c.reached_at <= at)
                .order_by(tier_history.c.reached_at.desc(), tier_history.c.id.desc())
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        return from_row(TierState, row, history_id=row.id)

    async def record_tier(
        self,
        affiliate_id: int,
        program_id: int,
        tier: Tier | None,
        *,
        at: datetime,
        follows: TierState | None,
    ) -> bool:
        """Record a tier change (``None``: dropped below every tier) that follows the
        standing ``follows`` (``None``: the first change).

        Each standing can be followed by one change only (a unique key), so of two
        simultaneous evaluations that saw the same standing only one records; the other
        gets ``False`` and must not announce anything.
        """
        key = f"{affiliate_id}:{program_id}:{follows.history_id if follows else 0}"
        result = await self._connection.execute(
            insert_ignoring_conflicts(self._connection, tier_history)
            .values(
                affiliate_id=affiliate_id,
                program_id=program_id,
                tier=tier.name if tier else None,
                bonus_bp=tier.bonus_bp if tier else 0,
                bonus_minor=tier.bonus_minor if tier else 0,
                reached_at=at,
                change_key=key,
            )
            .returning(tier_history.c.id)
        )
        return result.first() is not None

    async def approved_conversions(
        self, affiliate_id: int, program_id: int | None, start: datetime | None, end: datetime
    ) -> int:
        """Approved (or paid) sale and lead conversions within the caps, in ``[start, end]``.

        Reversed and over-cap conversions, and those reported while the affiliate was
        suspended, never count, so a reversal lowers this at once.
        """
        query = (
            select(func.count())
            .select_from(conversions)
            .where(conversions.c.affiliate_id == affiliate_id)
            .where(conversions.c.status.in_(("approved", "paid")))
            .where(conversions.c.over_cap.is_(False))
            .where(conversions.c.while_suspended.is_(False))
            .where(conversions.c.kind.in_(COUNTED_KINDS))
            .where(conversions.c.occurred_at <= end)
        )
        if program_id is not None:
            query = query.where(conversions.c.program_id == program_id)
        if start is not None:
            query = query.where(conversions.c.occurred_at >= start)
        return int((await self._connection.execute(query)).scalar_one())

    # Points ----------------------------------------------------------------------------

    async def add_points(
        self, affiliate_id: int, program_id: int, reason: str, points: int, *, at: datetime
    ) -> bool:
        """Add a ledger row unless ``reason`` was already recorded; returns whether it was."""
        if points == 0:
            return False
        result = await self._connection.execute(
            insert_ignoring_conflicts(self._connection, reward_points)
            .values(
                affiliate_id=affiliate_id,
                program_id=program_id,
                reason=reason,
                points=points,
                occurred_at=at,
            )
            .returning(reward_points.c.id)
        )
        return result.first() is not None

    async def points_for(self, reason: str) -> int | None:
        """The points recorded for ``reason``, or ``None`` when there is no such row."""
        row = (
            await self._connection.execute(
                select(reward_points.c.points).where(reward_points.c.reason == reason)
            )
        ).first()
        return int(row[0]) if row else None

    async def ranking(
        self,
        start: datetime | None,
        end: datetime | None,
        click_points: dict[int, int],
        *,
        program_ids: Sequence[int] | None = None,
        affiliate_id: int | None = None,
    ) -> list[Standing]:
        """Points per affiliate in ``[start, end)`` (``None``: unbounded), best first (ties:
        lower id first).

        Ledger points plus clicks times each program's points per click (``click_points``
        maps program id to it; clicks are counted, never stored as points, because the
        tracking server writes them in bulk).
        """
        totals: dict[int, int] = {}
        query = select(reward_points.c.affiliate_id, func.sum(reward_points.c.points))
        if end is not None:
            query = query.where(reward_points.c.occurred_at < end)
        if start is not None:
            query = query.where(reward_points.c.occurred_at >= start)
        if program_ids is not None:
            query = query.where(reward_points.c.program_id.in_(program_ids))
        if affiliate_id is not None:
            query = query.where(reward_points.c.affiliate_id == affiliate_id)
        for who, points in await self._connection.execute(
            query.group_by(reward_points.c.affiliate_id)
        ):
            totals[who] = int(points or 0)
        paying = {
            pid: points
            for pid, points in click_points.items()
            if points and (program_ids is None or pid in program_ids)
        }
        if paying:
            counted = (
                select(links.c.affiliate_id, links.c.program_id, func.count())
                .select_from(clicks.join(links, links.c.id == clicks.c.link_id))
                .where(links.c.program_id.in_(list(paying)))
            )
            if end is not None:
                counted = counted.where(clicks.c.occurred_at < end)
            if start is not None:
                counted = counted.where(clicks.c.occurred_at >= start)
            if affiliate_id is not None:
                counted = counted.where(links.c.affiliate_id == affiliate_id)
            rows = await self._connection.execute(
                counted.group_by(links.c.affiliate_id, links.c.program_id)
            )
            for who, program_id, count in rows:
                totals[who] = totals.get(who, 0) + paying[program_id] * count
        standings = [Standing(a, v) for a, v in totals.items() if v > 0]
        return sorted(standings, key=lambda s: (-s.value, s.affiliate_id))

    # Badges and bonuses ----------------------------------------------------------------

    async def award_badge(
        self, affiliate_id: int, badge: str, reason: str | None, *, at: datetime
    ) -> bool:
        """Award a badge once; ``False`` when the affiliate already has it."""
        result = await self._connection.execute(
            insert_ignoring_conflicts(self._connection, reward_badges)
            .values(affiliate_id=affiliate_id, badge=badge, reason=reason, awarded_at=at)
            .returning(reward_badges.c.id)
        )
        return result.first() is not None

    async def award_to_link_owners(
        self, link_ids: Iterable[int], badge: str, reason: str, *, at: datetime
    ) -> list[int]:
        """Award ``badge`` to the owners of ``link_ids`` who lack it, in one statement
        (``INSERT … SELECT``; the unique key settles races); returns who got it now.

        The tracking server calls this once per written batch of clicks, never per click.
        """
        wanted = sorted(set(link_ids))
        if not wanted:
            return []
        owners = (
            select(
                links.c.affiliate_id,
                literal(badge).label("badge"),
                literal(reason).label("reason"),
                literal(at, UtcDateTime()).label("awarded_at"),
            )
            .where(links.c.id.in_(wanted))
            .where(
                ~exists()
                .where(reward_badges.c.affiliate_id == links.c.affiliate_id)
                .where(reward_badges.c.badge == badge)
            )
            .distinct()
        )
        result = await self._connection.execute(
            insert_ignoring_conflicts(self._connection, reward_badges)
            .from_select(["affiliate_id", "badge", "reason", "awarded_at"], owners)
            .returning(reward_badges.c.affiliate_id)
        )
        return sorted(row.affiliate_id for row in result)

    async def badges(self, affiliate_id: int) -> list[Badge]:
        rows = await self._connection.execute(
            select(reward_badges)
            .where(reward_badges.c.affiliate_id == affiliate_id)
            .order_by(reward_badges.c.awarded_at, reward_badges.c.id)
        )
        return [from_row(Badge, row) for row in rows]

    async def badges_between(self, start: datetime, end: datetime) -> dict[int, list[str]]:
        """Badges awarded in ``[start, end)`` by affiliate (for the weekly shout-outs)."""
        rows = await self._connection.execute(
            select(reward_badges.c.affiliate_id, reward_badges.c.badge)
            .where(reward_badges.c.awarded_at >= start)
            .where(reward_badges.c.awarded_at < end)
            .order_by(reward_badges.c.awarded_at, reward_badges.c.id)
        )
        found: dict[int, list[str]] = {}
        for affiliate_id, badge in rows:
            found.setdefault(affiliate_id, []).append(badge)
        return found

    async def add_bonus(
        self,
        affiliate_id: int,
        amount_minor: int,
        currency: str,
        reason: str | None,
        *,
        actor: str,
        now: datetime,
    ) -> None:
        await self._connection.execute(
            reward_bonuses.insert().values(
                affiliate_id=affiliate_id,
                amount_minor=amount_minor,
                currency=currency,
                reason=reason,
                created_by=actor,
                created_at=now,
            )
        )

    async def bonus_totals(self, affiliate_id: int) -> dict[str, int]:
        """Money bonuses granted to the affiliate, per currency."""
        rows = await self._connection.execute(
            select(reward_bonuses.c.currency, func.sum(reward_bonuses.c.amount_minor))
            .where(reward_bonuses.c.affiliate_id == affiliate_id)
            .group_by(reward_bonuses.c.currency)
            .order_by(reward_bonuses.c.currency)
        )
        return {currency: int(total or 0) for currency, total in rows}
