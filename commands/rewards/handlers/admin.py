"""Manager commands for rewards: a program's points and signup rules, its tiers, and
one-off bonuses. Rules are rows, audited like every other change."""

from __future__ import annotations

import re
from dataclasses import asdict, replace
from decimal import Decimal, InvalidOperation

from commands.core import notify
from commands.core.catalog import command
from commands.core.errors import NotFound, Refused, UsageError
from commands.core.invocation import Invocation
from commands.core.money import (
    Rate,
    check_currency,
    format_money,
    is_amount_with_currency,
    parse_rate,
    to_minor,
)
from commands.core.programs import program_named
from commands.core.registry import Audience, Param, ParamKind
from commands.core.reply import Field, Reply, Table, Visibility
from commands.core.validation import slug
from commands.core.who import label, resolve, who_param
from commands.core.words import plural, sentence
from commands.rewards import badges, tiers
from storage.audit import AuditEntry
from storage.programs import Program
from storage.rewards import RewardRules, Tier

RULE_KEYS = ("points-click", "points-signup", "points-conversion", "qualify-days", "welcome")
TIER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _-]{0,31}$")
BADGE = re.compile(r"^[a-z0-9][a-z0-9-]{1,47}$")
AMOUNT = re.compile(r"^\s*(\d{1,12}(?:\.\d{1,4})?)\s+([A-Za-z]{3})\s*$")
MAX_POINTS = 1_000_000
_PROGRAM = Param("program", "The program", parse=slug, autocomplete="program")


@command(
    "reward_rules",
    "Show or change a program's points, welcome reward and signup qualification",
    params=[
        _PROGRAM,
        Param("key", "What to change", choices=RULE_KEYS, required=False),
        Param("value", "The new value", required=False, greedy=True, max_length=1000),
    ],
    audience=Audience.MANAGER,
    examples=(
        "/reward_rules shop",
        "/reward_rules shop points-conversion 20",
        "/reward_rules shop qualify-days 7",
        "/reward_rules shop welcome Use code WELCOME10 for 10% off your first order",
    ),
    private=True,
)
async def reward_rules(
    invocation: Invocation, program: str, key: str | None, value: str | None
) -> Reply:
    """Without a key, shows the program's reward rules and tiers. With one, changes it:

    points-click, points-signup, points-conversion: points per click-through, per
    qualified signup referral and per approved conversion (reversed and over-cap
    conversions never earn any).
    qualify-days: a referred account that comes back this many days after signing up
    qualifies its referral (0: only a later sale or lead by that person qualifies it).
    welcome: the reward text or code a referred person receives privately (none to clear).
    """
    defaults = invocation.settings.rewards
    if key is None:
        async with invocation.database.read() as store:
            found = await program_named(store, program)
            rules = await store.rewards.rules(found.id, defaults)
            tier_list = await store.rewards.tiers(found.id)
        return _rules_reply(found, rules, tier_list)
    if value is None:
        raise UsageError(f"Give the new value for {key}.")
    async with invocation.database.transaction() as store:
        found = await program_named(store, program)
        before = await store.rewards.rules(found.id, defaults)
        after = _changed(before, key, value)
        await store.rewards.save_rules(after, now=invocation.now)
        await store.audit.record(
            AuditEntry(
                actor=invocation.actor.label,
                action="rewards.rules",
                subject=f"program:{found.slug}",
                before=asdict(before),
                after=asdict(after),
                occurred_at=invocation.now,
            )
        )
    return Reply(text=f"Changed {key} of {found.slug}.", visibility=Visibility.PRIVATE)


def _changed(rules: RewardRules, key: str, value: str) -> RewardRules:
    text = value.strip()
    if key == "welcome":
        return replace(rules, welcome_text=None if text.lower() == "none" else text)
    if not text.isdigit() or int(text) > MAX_POINTS:
        raise UsageError(f"{key} takes a whole number from 0 to {MAX_POINTS:,}.")
    number = int(text)
    if key == "qualify-days":
        if number > 365:
            raise UsageError("qualify-days takes 0 to 365 days.")
        return replace(rules, qualify_days=number)
    if key == "points-click":
        return replace(rules, points_click=number)
    if key == "points-signup":
        return replace(rules, points_signup=number)
    return replace(rules, points_conversion=number)


def _rules_reply(program: Program, rules: RewardRules, tier_list: list[Tier]) -> Reply:
    fields = [
        Field("Points per click", str(rules.points_click)),
        Field("Points per signup", str(rules.points_signup)),
        Field("Points per conversion", str(rules.points_conversion)),
        Field(
            "Signup qualification",
            "a later sale or lead by the referred person"
            + (
                plural(
                    rules.qualify_days,
                    ", or coming back after {n} day",
                    ", or coming back after {n} days",
                )
                if rules.qualify_days
                else ""
            ),
            inline=False,
        ),
        Field("Welcome reward", rules.welcome_text or "none", inline=False),
    ]
    table = None
    if tier_list:
        table = Table(
            ("tier", "approved conversions", "window", "bonus"),
            tuple(
                (
                    tier.name,
                    f">= {tier.threshold}",
                    plural(tier.window_days, "{n} day", "{n} days")
                    if tier.window_days
                    else "all time",
                    tiers.describe_bonus(tier, program) or "none",
                )
                for tier in tier_list
            ),
        )
    return Reply(
        title=f"Reward rules of {program.name}",
        fields=tuple(fields),
        table=table,
        visibility=Visibility.PRIVATE,
    )


def _tier_name(text: str) -> str:
    name = text.strip()
    if not TIER_NAME.match(name):
        raise ValueError("a tier name is 1-32 letters, digits, spaces, - or _")
    return name


@command(
    "tier set",
    "Create or change a tier: a threshold of approved conversions and its bonus",
    params=[
        _PROGRAM,
        Param("name", "The tier's name, like Silver", parse=_tier_name, max_length=32),
        Param(
            "threshold",
            "Approved conversions needed",
            kind=ParamKind.INTEGER,
            minimum=0,
            maximum=10_000_000,
        ),
        Param(
            "days",
            "Counted over the last this many days (0: all time)",
            kind=ParamKind.INTEGER,
            minimum=0,
            maximum=3650,
            required=False,
            default=90,
        ),
        Param(
            "bonus",
            "Extra commission: percentage points like 2% or a flat 1 USD",
            required=False,
            parse=parse_rate,
            absorbs=is_amount_with_currency,
        ),
    ],
    audience=Audience.MANAGER,
    examples=(
        "/tier set shop Bronze 0",
        "/tier set shop Silver 10 90 2%",
        "/tier set app Gold 50 90 1 USD",
    ),
    private=True,
)
async def set_tier(
    invocation: Invocation,
    program: str,
    name: str,
    threshold: int,
    days: int,
    bonus: Rate | None,
) -> Reply:
    """Creates a tier, or changes the one with that name. An affiliate holds the highest
    tier whose threshold of approved conversions (over the last days, 90 unless you say)
    they meet. The bonus applies to their conversions from the moment they reach the tier:
    percentage points on a percent commission, or an amount on a flat one. Reversed
    conversions stop counting, so tiers can be lost again."""
    async with invocation.database.transaction() as store:
        found = await program_named(store, program)
        current = await store.programs.commission_at(found.id, invocation.now)
        bonus_bp, bonus_minor = _bonus(found, current.kind if current else "percent", bonus)
        await store.rewards.save_tier(found.id, name, threshold, days, bonus_bp, bonus_minor)
        await store.audit.record(
            AuditEntry(
                actor=invocation.actor.label,
                action="rewards.tier",
                subject=f"program:{found.slug}",
                before=None,
                after={
                    "name": name,
                    "threshold": threshold,
                    "window_days": days,
                    "bonus_bp": bonus_bp,
                    "bonus_minor": bonus_minor,
                },
                occurred_at=invocation.now,
            )
        )
    return Reply(text=f"Tier {name} of {found.slug} saved.", visibility=Visibility.PRIVATE)


def _bonus(program: Program, kind: str, bonus: Rate | None) -> tuple[int, int]:
    if bonus is None:
        return 0, 0
    if bonus.kind != kind:
        wanted = (
            "percentage points like 2%"
            if kind == "percent"
            else f"an amount in {program.currency}"
        )
        raise Refused(f"{program.slug} pays a {kind} commission: give {wanted}.")
    if bonus.kind == "percent":
        return bonus.value, 0
    if bonus.currency != program.currency:
        raise Refused(f"{program.slug} pays in {program.currency}; give the bonus in it.")
    return 0, bonus.value


@command(
    "tier remove",
    "Remove a tier (standings already reached keep their history)",
    params=[_PROGRAM, Param("name", "The tier's name", parse=_tier_name, max_length=32)],
    audience=Audience.MANAGER,
    examples=("/tier remove shop Gold",),
    private=True,
)
async def remove_tier(invocation: Invocation, program: str, name: str) -> Reply:
    """Removes a tier. Conversions already paid with its bonus keep their commission;
    affiliates move to the tier they qualify for at their next conversion."""
    async with invocation.database.transaction() as store:
        found = await program_named(store, program)
        if not await store.rewards.remove_tier(found.id, name):
            raise NotFound(f"{found.slug} has no tier called {name}.")
        await store.audit.record(
            AuditEntry(
                actor=invocation.actor.label,
                action="rewards.tier.remove",
                subject=f"program:{found.slug}",
                before={"name": name},
                after=None,
                occurred_at=invocation.now,
            )
        )
    return Reply(text=f"Tier {name} of {found.slug} removed.", visibility=Visibility.PRIVATE)


def _amount_or_badge(text: str) -> tuple[int, str] | str:
    """``50 USD`` → (5000, "USD"); ``top-helper`` → the badge name."""
    if match := AMOUNT.match(text):
        try:
            currency = check_currency(match.group(2))
            minor = to_minor(Decimal(match.group(1)), currency)
        except (ValueError, InvalidOperation) as error:
            raise ValueError(str(error)) from None
        if minor <= 0:
            raise ValueError("a bonus must be more than zero")
        return minor, currency
    badge = text.strip().lower()
    if not BADGE.match(badge):
        raise ValueError("give an amount like 50 USD or a badge name like top-helper")
    return badge


@command(
    "reward",
    "Grant an affiliate a money bonus or a badge",
    params=[
        who_param(),
        Param(
            "what",
            "An amount like 50 USD, or a badge name like top-helper",
            parse=_amount_or_badge,
            absorbs=is_amount_with_currency,
        ),
        Param(
            "reason", "Why (the affiliate sees it)", required=False, greedy=True, max_length=200
        ),
    ],
    audience=Audience.MANAGER,
    examples=("/reward @ann 50 USD best launch week", "/reward #7 top-helper"),
)
async def reward(
    invocation: Invocation, who: str, what: tuple[int, str] | str, reason: str | None
) -> Reply:
    """Grants a bonus: an amount is owed to the affiliate like commission, a badge is
    added to their badges (once). Either way it is audited and they are told privately.
    A suspended affiliate gets no rewards until reinstated."""
    now = invocation.now
    async with invocation.database.transaction() as store:
        affiliate = await resolve(store, who, platform=invocation.actor.platform)
        if affiliate.status == "suspended":
            # A suspension promises no new commission; a bonus or badge would be new reward.
            raise Refused(f"{label(affiliate)} is suspended; /reinstate them before a reward.")
        if isinstance(what, str):
            if not await badges.grant(store, affiliate.id, what, reason, now=now):
                raise Refused(f"{label(affiliate)} already has the {what} badge.")
            after: dict[str, object] = {"badge": what, "reason": reason}
            done = f"the {what} badge"
        else:
            amount, currency = what
            await store.rewards.add_bonus(
                affiliate.id, amount, currency, reason, actor=invocation.actor.label, now=now
            )
            shown = format_money(amount, currency)
            after = {
                "amount_minor": amount,
                "currency": currency,
                "reason": reason,
            }
            because = f" for {reason}" if reason else ""
            note = Reply(
                title="Bonus!", text=sentence(f"You received a bonus of {shown}{because}")
            )
            key = f"bonus:{affiliate.id}:{now.isoformat()}"
            await store.outbox.enqueue(
                await notify.to_affiliate(store, affiliate.id, note, key), now=now
            )
            done = f"a bonus of {shown}"
        await store.audit.record(
            AuditEntry(
                actor=invocation.actor.label,
                action="rewards.bonus",
                subject=f"affiliate:{affiliate.id}",
                before=None,
                after=after,
                occurred_at=now,
            )
        )
    return Reply(text=f"Granted {label(affiliate)} {done}. They are told privately.")
