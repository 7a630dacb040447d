"""/link: the caller's tracked referral link for a program (and campaign)."""

from __future__ import annotations

from commands.core.catalog import command
from commands.core.invocation import Invocation
from commands.core.programs import program_named
from commands.core.registry import Audience, Param
from commands.core.reply import Button, Field, Reply, Visibility
from commands.core.validation import campaign as check_campaign
from commands.core.validation import slug
from commands.tracking.ip_hashes import check_token, settle_salt
from commands.tracking.links import cap_pause_note, handed_out_link
from commands.tracking.share_text import share_text


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
    to tell your channels apart in /stats. The share text is the program's first sample
    post with your link in it. If a cap has paused the program for you, the reply says so,
    what clicks meet meanwhile and when it counts again.

    The private check link shows whether your link works right now and where it leads,
    without counting a click; visits and purchases from the device you open it on, through
    your own link, are then recognised as your own."""
    affiliate = invocation.require_affiliate()
    async with invocation.database.transaction() as store:
        found = await program_named(store, program)
        tracked = await handed_out_link(
            store, affiliate, found, campaign or "", now=invocation.now
        )
        paused = await cap_pause_note(
            store, found, affiliate.id, now=invocation.now, zone=invocation.settings.timezone
        )
        salt = await settle_salt(store, invocation.settings.ip_hash_salt, now=invocation.now)
    url = invocation.settings.link_url(tracked.code)
    check = invocation.settings.check_url(tracked.code, check_token(salt, tracked.code))
    fields = [Field("Link", url, inline=False)]
    if campaign:
        fields.append(Field("Campaign", campaign))
    if paused is not None:
        fields.append(Field("Paused by a cap", paused, inline=False))
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
