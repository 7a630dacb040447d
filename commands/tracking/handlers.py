"""/link: the caller's tracked referral link for a program (and campaign)."""

from __future__ import annotations

from commands.core.catalog import command
from commands.core.errors import Refused
from commands.core.invocation import Invocation
from commands.core.programs import program_named
from commands.core.registry import Audience, Param
from commands.core.reply import Button, Field, Reply, Visibility
from commands.core.validation import campaign as check_campaign
from commands.core.validation import slug
from commands.tracking.ip_hashes import check_token, settle_salt
from storage.programs import Program


@command(
    "link",
    "Your tracked referral link for a program",
    params=[
        Param("program", "The program (see /programs)", parse=slug, autocomplete="program"),
        Param(
            "campaign",
            "Optional label to compare where clicks come from, like youtube",
            required=False,
            parse=check_campaign,
            max_length=64,
        ),
    ],
    audience=Audience.AFFILIATE,
    examples=("/link spring-sale", "/link spring-sale youtube"),
    private=True,
)
async def link(invocation: Invocation, program: str, campaign: str | None) -> Reply:
    """Gives your personal link for a program. It is the same link every time for the same
    program and campaign, so links you already shared keep counting. Add a campaign label
    to tell your channels apart in /stats.

    The private check link shows whether your link works right now and where it leads,
    without counting a click; visits and purchases from the device you open it on, through
    your own link, are then recognised as your own."""
    affiliate = invocation.require_affiliate()
    if affiliate.status == "suspended":
        raise Refused("Your affiliate account is suspended, so no new links can be given out.")
    async with invocation.database.transaction() as store:
        found = await program_named(store, program)
        membership = await store.affiliates.membership(affiliate.id, found.id)
        if membership is None:
            raise Refused(f"Join {found.name} first with /join {found.slug}.")
        if membership.status != "approved":
            raise Refused(
                f"Your membership of {found.name} is {membership.status}; "
                "links come once you are approved."
            )
        if found.status != "active":
            raise Refused(f"{found.name} is paused; links are handed out again when it resumes.")
        tracked = await store.links.ensure(
            affiliate.id, found.id, campaign or "", now=invocation.now
        )
        salt = await settle_salt(store, invocation.settings.ip_hash_salt, now=invocation.now)
    url = invocation.settings.link_url(tracked.code)
    check = invocation.settings.check_url(tracked.code, check_token(salt, tracked.code))
    fields = [Field("Link", url, inline=False)]
    if campaign:
        fields.append(Field("Campaign", campaign))
    return Reply(
        title=f"Your link for {found.name}",
        text="Share this link; every click and sale through it counts for you.",
        fields=(
            *fields,
            Field("Share text", share_text(found, url), inline=False),
            Field("Check it yourself", check, inline=False),
        ),
        buttons=(Button("Open link", url),),
        notes=(
            "Keep the check link to yourself: open it to check your link; it does not "
            "count as a click.",
            f"More ready-made posts and banners: /materials {found.slug}",
        ),
        visibility=Visibility.PRIVATE,
    )


def share_text(program: Program, url: str) -> str:
    """A post ready to paste: the program's first sample post when the manager wrote
    one, else a plain invitation; always ending with the link."""
    posts = program.materials.get("posts")
    if isinstance(posts, list) and posts:
        return f"{str(posts[0]).rstrip()} {url}"
    return f"Check out {program.name}: {url}"
