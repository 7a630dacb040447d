"""/rewards: the caller's tier, points, badges and what the next step takes."""

from __future__ import annotations

from commands.core.catalog import command
from commands.core.invocation import Invocation
from commands.core.money import format_money
from commands.core.registry import Audience
from commands.core.reply import Field, Reply, Visibility
from commands.core.words import plural
from commands.rewards import points, tiers
from commands.rewards.badges import milestone_badge
from storage import Store
from storage.programs import Program


@command(
    "rewards",
    "Your tier, points, badges and next milestone",
    audience=Audience.AFFILIATE,
    examples=("/rewards",),
    private=True,
)
async def rewards(invocation: Invocation) -> Reply:
    """Shows your points, your tier in each program with the commission bonus it brings,
    what the next tier takes, your badges and the next milestone. Points come from
    approved conversions, qualified signup referrals and (where a program says so)
    clicks; a reversed conversion takes its points back. Only you can see it."""
    affiliate = invocation.require_affiliate()
    defaults = invocation.settings.rewards
    now = invocation.now
    async with invocation.database.read() as store:
        total = await points.total(store, affiliate.id, defaults)
        badges = await store.rewards.badges(affiliate.id)
        bonuses = await store.rewards.bonus_totals(affiliate.id)
        count = await store.rewards.approved_conversions(affiliate.id, None, None, now)
        programs = {p.id: p for p in await store.programs.list()}
        tier_lines = []
        for membership in await store.affiliates.memberships_of(affiliate.id):
            program = programs.get(membership.program_id)
            if membership.status == "approved" and program is not None:
                line = await _tier_line(store, program, affiliate.id, invocation)
                if line:
                    tier_lines.append(line)
    fields = [Field("Points", f"{total:,}")]
    if tier_lines:
        fields.append(Field("Tiers", "\n".join(tier_lines), inline=False))
    shown = ", ".join(badge.badge for badge in badges) if badges else "none yet"
    fields.append(Field("Badges", shown, inline=False))
    upcoming = [m for m in sorted(defaults.milestones) if m > count]
    if upcoming:
        more = upcoming[0] - count
        fields.append(
            Field(
                "Next milestone",
                plural(
                    more,
                    "{n} more approved conversion to the {badge} badge",
                    "{n} more approved conversions to the {badge} badge",
                    badge=milestone_badge(upcoming[0]),
                ),
                inline=False,
            )
        )
    if bonuses:
        granted = ", ".join(format_money(v, c) for c, v in bonuses.items())
        fields.append(Field("Bonuses granted", granted))
    return Reply(title="Your rewards", fields=tuple(fields), visibility=Visibility.PRIVATE)


async def _tier_line(
    store: Store, program: Program, affiliate_id: int, invocation: Invocation
) -> str | None:
    """``Shop: Silver (+2% commission); 3 more approved conversions to Gold``."""
    reached, seen = await tiers.standing(store, program.id, affiliate_id, invocation.now)
    if not seen:
        return None
    held = await tiers.tier_in_force(store, program.id, affiliate_id, invocation.now)
    name = held.tier if held and held.tier else "no tier yet"
    bonus = tiers.describe_bonus(held, program) if held and held.tier else None
    line = f"{program.name}: {name}" + (f" ({bonus} in force)" if bonus else "")
    floor = reached.threshold if reached else -1
    above = [(tier, count) for tier, count in seen if tier.threshold > floor]
    if above:
        tier, count = above[0]
        more = max(tier.threshold - count, 0)
        days = tier.window_days
        window = plural(days, " in {n} day", " in {n} days") if days else ""
        line += plural(
            more,
            "; {n} more approved conversion{window} to {tier}",
            "; {n} more approved conversions{window} to {tier}",
            window=window,
            tier=tier.name,
        )
    return line
