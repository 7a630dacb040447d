"""/materials: what a program gives affiliates to promote it with."""

from __future__ import annotations

from commands.core.catalog import command
from commands.core.invocation import Invocation
from commands.core.programs import program_named
from commands.core.registry import Param
from commands.core.reply import Button, Field, Reply
from commands.core.validation import slug


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
    you are in."""
    async with invocation.database.read() as store:
        if program is not None:
            chosen = [await program_named(store, program, open_only=True)]
        else:
            affiliate = await store.affiliates.by_identity(
                invocation.actor.platform, invocation.actor.user_id
            )
            memberships = await store.affiliates.memberships_of(affiliate.id) if affiliate else []
            approved = {m.program_id for m in memberships if m.status == "approved"}
            chosen = [p for p in await store.programs.list(status="active") if p.id in approved]
    if not chosen:
        return [Reply(text="Name a program (/materials <program>), or join one first: /programs.")]
    return [_reply(p.name, p.slug, p.materials) for p in chosen]


def _reply(name: str, slug_text: str, stored: dict[str, object]) -> Reply:
    guidelines = stored.get("guidelines")
    banners = [str(url) for url in _list(stored.get("banners"))]
    posts = [str(text) for text in _list(stored.get("posts"))]
    if not (guidelines or banners or posts):
        return Reply(
            title=f"Materials for {name}",
            text="No materials yet. Your link (/link " + slug_text + ") is all you need.",
        )
    fields = []
    if guidelines:
        fields.append(Field("Guidelines", str(guidelines), inline=False))
    for number, post in enumerate(posts, start=1):
        fields.append(Field(f"Sample post {number}", post, inline=False))
    return Reply(
        title=f"Materials for {name}",
        fields=tuple(fields),
        buttons=tuple(Button(f"Banner {n}", url) for n, url in enumerate(banners, start=1)),
        notes=(f"Add your own link from /link {slug_text} to any post.",),
    )


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []
