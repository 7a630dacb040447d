"""Reply → Discord message: one embed, an optional image attachment and link buttons.

Every string in a ``Reply`` is plain text that may hold anything a user typed, so all of it
is escaped here, once: markdown is neutralised and mentions (``@everyone``, ``<@&role>``)
are broken with a zero-width space. On top of that every message goes out with
``AllowedMentions.none()``, so even a mention that slipped through pings nobody. The one
exception is a role a manager asked to ping (``Reply.mention_role``): the message content
is that role's mention and ``allowed_mentions`` allows exactly that role.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

import discord

from commands.core.reply import Reply, Table

# Discord's embed limits (https://discord.com/developers/docs/resources/message#embed-object).
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_LIMIT = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
BUTTON_LIMIT = 25
BUTTON_LABEL_LIMIT = 80
EMBED_TOTAL_LIMIT = 6000
_SNOWFLAKE = re.compile(r"^\d{15,20}$")
COLOUR = discord.Colour.blurple()
PRIVATE_COLOUR = discord.Colour.dark_grey()


@dataclass(frozen=True, slots=True)
class Rendered:
    """What a send call needs; ``file`` and ``view`` only when the reply has them."""

    embed: discord.Embed
    file: discord.File | None
    view: discord.ui.View | None
    ephemeral: bool
    ping_role: int | None = None

    def send_kwargs(self) -> dict[str, Any]:
        """Keyword arguments shared by channel sends, responses and follow-ups."""
        kwargs: dict[str, Any] = {
            "embed": self.embed,
            "allowed_mentions": discord.AllowedMentions.none(),
        }
        if self.ping_role is not None:
            kwargs["content"] = f"<@&{self.ping_role}>"
            kwargs["allowed_mentions"] = discord.AllowedMentions(
                everyone=False,
                users=False,
                roles=[discord.Object(id=self.ping_role)],
                replied_user=False,
            )
        if self.file is not None:
            kwargs["file"] = self.file
        if self.view is not None:
            kwargs["view"] = self.view
        return kwargs


def escape(text: str) -> str:
    """User text made inert: no markdown, no mentions."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def render(reply: Reply) -> Rendered:
    """Render a reply (call inside the event loop: views need one)."""
    embed = discord.Embed(
        title=_cut(escape(reply.title), TITLE_LIMIT) if reply.title else None,
        description=_description(reply) or None,
        colour=PRIVATE_COLOUR if reply.private else COLOUR,
    )
    for field in reply.fields[:FIELD_LIMIT]:
        embed.add_field(
            name=_cut(escape(field.name), FIELD_NAME_LIMIT) or "\u200b",
            value=_cut(escape(field.value), FIELD_VALUE_LIMIT) or "\u200b",
            inline=field.inline,
        )
    file = None
    if reply.image is not None:
        filename = _safe_filename(reply.image.filename)
        file = discord.File(
            io.BytesIO(reply.image.data), filename=filename, description=reply.image.description
        )
        embed.set_image(url=f"attachment://{filename}")
    view = None
    if reply.buttons:
        view = discord.ui.View(timeout=None)
        for button in reply.buttons[:BUTTON_LIMIT]:
            view.add_item(
                discord.ui.Button(
                    style=discord.ButtonStyle.link,
                    label=_cut(button.label, BUTTON_LABEL_LIMIT),
                    url=button.url,
                )
            )
    if reply.private:
        embed.set_footer(text="Only you can see this.")
    return Rendered(
        embed=embed,
        file=file,
        view=view,
        ephemeral=reply.private,
        ping_role=_role(reply.mention_role),
    )


def _role(value: str | None) -> int | None:
    """A role id to ping, only if it is one (a snowflake); anything else pings nobody."""
    if value is None or not _SNOWFLAKE.match(value):
        return None
    return int(value)


def _description(reply: Reply) -> str:
    parts = []
    if reply.text:
        parts.append(escape(reply.text))
    if reply.table is not None:
        parts.append(code_block(reply.table))
    parts.extend(f"*{escape(note)}*" for note in reply.notes)
    text = "\n\n".join(parts)
    budget = min(DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT - len(reply.title or "") - 1000)
    return _cut(text, budget)


def code_block(table: Table) -> str:
    """A monospace table. Markdown does not apply inside a code block, so the only thing
    user text could do there is close the block: backticks are swapped for a look-alike."""
    cells = [table.headers, *table.rows]
    cleaned = [tuple(_code_safe(cell) for cell in row) for row in cells]
    widths = [max(len(row[i]) for row in cleaned) for i in range(len(table.headers))]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cleaned
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    body = "\n".join(lines)
    if len(body) > DESCRIPTION_LIMIT - 200:
        body = body[: DESCRIPTION_LIMIT - 200].rsplit("\n", 1)[0] + "\n…"
    return f"```\n{body}\n```"


def _code_safe(text: str) -> str:
    return " ".join(text.replace("`", "\u02cb").split())


def _safe_filename(name: str) -> str:
    cleaned = "".join(char for char in name if char.isalnum() or char in "._-")
    return cleaned or "image.png"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
