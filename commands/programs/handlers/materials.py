"""/materials: what a program gives affiliates to promote it with."""

from __future__ import annotations

from commands.core.catalog import command
from commands.core.errors import Refused
from commands.core.invocation import Invocation
from commands.core.programs import program_named
from commands.core.registry import Param
from commands.core.reply import Button, Field, Reply
from commands.core.validation import slug
from commands.tracking import fill, handed_out_link
from storage import Store
from storage.affiliates import Affiliate
from storage.programs import Program


@command(
    "materials",
    "A program's guidelines, banners and sample posts",
    params=[
        Param(
            "program",
            "The program (default: every program you are in)",
            required=False,
            parse=slug,
            autocomplete="program",
        )
    ],
    examples=("/materials spring-sale",),
)
async def materials(invocation: Invocation, program: str | None) -> list[Reply]:
    """Shows a program's ready-to-use material: the promotion guidelines, links to banner
    images and sample posts you can copy. Without a program, shows it for every program
    you are in. In the posts, {link} becomes your own tracked link (the one /link gives)
    and {program} the program's name."""
    async with invocation.database.transaction() as store:
        affiliate = await store.affiliates.by_identity(
            invocation.actor.platform, invocation.actor.user_id
        )
        if program is not None:
            chosen = [await program_named(store, program, open_only=True)]
        else:
            memberships = await store.affiliates.memberships_of(affiliate.id) if affiliate else []
            approved = {m.program_id for m in memberships if m.status == "approved"}
            chosen = [p for p in await store.programs.list(status="active") if p.id in approved]
        urls = {p.id: await _own_link(store, invocation, affiliate, p) for p in chosen}
    if not chosen:
        return [Reply(text="Name a program (/materials <program>), or join one first: /programs.")]
    return [_reply(p, urls[p.id]) for p in chosen]


async def _own_link(
    store: Store, invocation: Invocation, affiliate: Affiliate | None, program: Program
) -> str | None:
    """The caller's link for ``{link}``, or ``None`` when /link would not give one."""
    if affiliate is None:
        return None
    try:
        link = await handed_out_link(store, affiliate, program, "", now=invocation.now)
    except Refused:
        return None
    return invocation.settings.link_url(link.code)


def _reply(program: Program, url: str | None) -> Reply:
    stored = program.materials
    guidelines = stored.get("guidelines")
    banners = [str(banner) for banner in _list(stored.get("banners"))]
    posts = [str(text) for text in _list(stored.get("posts"))]
    if not (guidelines or banners or posts):
        return Reply(
            title=f"Materials for {program.name}",
            text="No materials yet. Your link (/link " + program.slug + ") is all you need.",
        )
    fields = []
    if guidelines:
        fields.append(Field("Guidelines", fill(str(guidelines), program, url), inline=False))
    for number, post in enumerate(posts, start=1):
        fields.append(Field(f"Sample post {number}", fill(post, program, url), inline=False))
    if url is None:
        hints: tuple[str, ...] = (
            f"Get your own link with /link {program.slug}; the posts then show it.",
        )
    elif any("{link}" not in post for post in posts):
        hints = (f"Add your link to the posts that do not show it: {url}",)
    else:
        hints = ()
    return Reply(
        title=f"Materials for {program.name}",
        fields=tuple(fields),
        buttons=tuple(Button(f"Banner {n}", banner) for n, banner in enumerate(banners, start=1)),
        notes=hints,
    )


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []
