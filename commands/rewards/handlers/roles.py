"""/reward_role: a manager maps a sales tier or a badge to a Discord role (never invites)."""

from __future__ import annotations

import re

from commands.core.catalog import command
from commands.core.errors import NotFound, Refused, UsageError
from commands.core.invocation import Invocation
from commands.core.programs import program_named
from commands.core.registry import Audience, Param
from commands.core.reply import Reply, Visibility
from storage.audit import AuditEntry
from storage.reward_roles import badge_subject, tier_subject

_ROLE = re.compile(r"^(?:<@&(\d{15,20})>|(\d{15,20}))$")


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
            found = await program_named(store, program)
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
