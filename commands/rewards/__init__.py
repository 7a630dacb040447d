"""Rewards: points, tiers, badges, manager bonuses and double-sided signup rewards.

Owns how points are earned and taken back (``points``), tiers and their commission bonus
(``tiers``), badges (``badges``), Discord roles for tiers and badges (``roles``), signup
rewards for referred people (``signups``), the one hook the conversion path calls
(``events``), and /rewards, /reward_rules, /tier, /reward and /reward_role (``handlers``).
"""

from commands.rewards.badges import award_weekly_badges
from commands.rewards.events import on_conversion
from commands.rewards.points import click_points
from commands.rewards.signups import qualify_by_return, welcome_referred
from commands.rewards.tiers import evaluate_tier, with_tier_bonus

__all__ = [
    "award_weekly_badges",
    "click_points",
    "evaluate_tier",
    "on_conversion",
    "qualify_by_return",
    "welcome_referred",
    "with_tier_bonus",
]
