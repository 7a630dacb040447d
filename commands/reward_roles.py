"""Discord reward roles: a sales tier or a badge can carry a Discord role.

The core decides (a tier reached or lost, a badge earned) and queues the grant or removal
for the affiliate's Discord accounts; the Discord adapter applies the queue and records
Discord's refusal when the bot lacks Manage Roles or the role is above its own. Invite
counts never map to roles: Discord forbids rewarding invites.
"""

from __future__ import annotations

import re
from datetime import datetime

from commands.catalog import command
from commands.errors import NotFound, Refused, UsageError
from commands.invocation import Invocation
from commands.registry import Audience, Param
from commands.reply import Reply, Visibility
from storage import Store
from storage.audit import AuditEntry
from storage.reward_roles import RoleAction, badge_subject, tier_subject

_ROLE = re.compile(r"^(?:<@&(\d{15,20})>|(\d{15,20}))$")


async def queue(
    store: Store, affiliate_id: int, subject: str, action: RoleAction, *, now: datetime
) -> int:
    """Queue the roles mapped to ``subject`` for every Discord account of the affiliate."""
    roles = await store.reward_roles.roles_for(subject)
    if not roles:
        return 0
    accounts = [
        identity.platform_user_id
        for identity in await store.affiliates.identities_of(affiliate_id)
        if identity.platform == "discord"
    ]
    return await store.reward_roles.queue(affiliate_id, accounts, roles, action, now=now)


async def tier_changed(
    store: Store,
    program_id: int,
    affiliate_id: int,
    before: str | None,
    after: str | None,
    *,
    now: datetime,
) -> None:
    """Take the old tier's roles away and grant the new tier's."""
    if before is not None:
        await queue(store, affiliate_id, tier_subject(program_id, before), "remove", now=now)
    if after is not None:
        await queue(store, affiliate_id, tier_subject(program_id, after), "grant", now=now)


def _role_id(text: str) -> str:
    match = _ROLE.match(text.strip())
    if match is None:
        raise ValueError("give a role mention like @Gold or a role id")
    return match.group(1) or match.group(2)


@command(
    "reward_role",
    "Give a Discord role with a sales tier or a badge (never for invites)",
    params=[
        Param("kind", "tier or badge", choices=("tier", "badge")),
        Param("name", "The tier's name (with program) or the badge's name", max_length=48),
        Param("role", "The Discord role (mention or id)", parse=_role_id, max_length=30),
        Param("program", "The program, for a tier", required=False, autocomplete="program"),
    ],
    audience=Audience.MANAGER,
    examples=(
        "/reward_role tier Gold 123456789012345678 shop",
        "/reward_role badge 100-conversions 123456789012345679",
    ),
    private=True,
)
async def reward_role(
    invocation: Invocation, kind: str, name: str, role: str, program: str | None
) -> Reply:
    """Maps a Discord role to a sales tier of a program or to a badge. From then on the
    bot grants the role when an affiliate reaches the tier or earns the badge, and removes
    a tier's role when they drop out of it. The bot needs the Manage Roles permission, and
    its own highest role must be above this role; problems show in /report."""
    async with invocation.database.transaction() as store:
        if kind == "tier":
            if program is None:
                raise UsageError("Name the program the tier belongs to.")
            found = await store.programs.by_slug(program.lower())
            if found is None:
                raise NotFound(f"There is no program called {program}. See /programs.")
            tier_names = {tier.name for tier in await store.rewards.tiers(found.id)}
            if name not in tier_names:
                raise NotFound(f"{found.slug} has no tier called {name}. See /reward_rules.")
            subject = tier_subject(found.id, name)
        else:
            subject = badge_subject(name.lower())
        if not await store.reward_roles.map_role(subject, role):
            raise Refused("That role already goes with it.")
        await store.audit.record(
            AuditEntry(
                actor=invocation.actor.label,
                action="rewards.role",
                subject=subject,
                before=None,
                after={"role_id": role},
                occurred_at=invocation.now,
            )
        )
    return Reply(
        text=f"The role now goes with the {kind} {name}. New {kind} changes grant it.",
        visibility=Visibility.PRIVATE,
    )
