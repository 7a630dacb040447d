"""/join: enrolment in a program, instant or pending a manager's approval."""

from __future__ import annotations

from commands.core.catalog import command
from commands.core.errors import Refused
from commands.core.invocation import Invocation
from commands.core.programs import program_named
from commands.core.registry import Param
from commands.core.reply import Reply, Visibility
from commands.core.validation import slug
from storage.affiliates import MembershipStatus


@command(
    "join",
    "Join a program to get your referral link",
    params=[
        Param("program", "The program to join (see /programs)", parse=slug, autocomplete="program")
    ],
    examples=("/join spring-sale",),
)
async def join(invocation: Invocation, program: str) -> Reply:
    """Enrols you in a program. Most programs accept you at once; some ask a manager to
    approve you first, and you hear back privately when they decide."""
    actor = invocation.actor
    async with invocation.database.transaction() as store:
        found = await program_named(store, program, open_only=True)
        affiliate = await store.affiliates.ensure_for_identity(
            actor.platform, actor.user_id, actor.display_name, now=invocation.now
        )
        if affiliate.status == "suspended":
            raise Refused("Your affiliate account is suspended, so you cannot join programs.")
        status: MembershipStatus = "pending" if found.approval_required else "approved"
        membership, created = await store.affiliates.join(
            affiliate.id, found.id, status, now=invocation.now
        )
    if not created:
        state = {
            "approved": f"You are already in {found.name}. Get your link with /link {found.slug}.",
            "pending": f"Your request to join {found.name} is waiting for a manager.",
            "rejected": f"Your request to join {found.name} was declined.",
        }[membership.status]
        return Reply(text=state, visibility=Visibility.PRIVATE)
    if membership.status == "pending":
        return Reply(
            text=(
                f"Thanks! {found.name} reviews new affiliates; a manager will decide soon and "
                "you will hear back in a private message."
            ),
            visibility=Visibility.PRIVATE,
        )
    return Reply(
        title=f"Welcome to {found.name}",
        text=f"You are in. Get your referral link with /link {found.slug}.",
        visibility=Visibility.PRIVATE,
    )
