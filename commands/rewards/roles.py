"""Discord reward roles: a sales tier or a badge can carry a Discord role.

The core decides (a tier reached or lost, a badge earned) and queues the grant or removal
for the affiliate's Discord accounts; the Discord adapter applies the queue and records
Discord's refusal when the bot lacks Manage Roles or the role is above its own. Invite
counts never map to roles: Discord forbids rewarding invites.
"""

from __future__ import annotations

from datetime import datetime

from storage import Store
from storage.reward_roles import RoleAction, tier_subject


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
