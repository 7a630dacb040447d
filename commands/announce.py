"""/announce: a manager's message to the announcement chats, and optionally to every
active affiliate privately."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace

from commands import notify
from commands.catalog import command
from commands.invocation import Invocation
from commands.registry import Audience, Param, ParamKind
from commands.reply import Reply
from storage.audit import AuditEntry

MAX_LENGTH = 2000  # fits a Discord message and a Telegram one with room for the title
_ROLE = re.compile(r"^(?:<@&)?(\d{15,20})>?$")


def _role_id(text: str) -> str:
    """A Discord role id (or a pasted role mention ``<@&id>``)."""
    match = _ROLE.match(text.strip())
    if match is None:
        raise ValueError(
            "ping takes a Discord role id (Developer Mode: right-click the role, Copy Role ID)"
        )
    return match.group(1)


@command(
    "announce",
    "Post an announcement to the announcement channels (and --dm every affiliate)",
    params=[
        Param(
            "text",
            "What to announce (line breaks are kept)",
            greedy=True,
            multiline=True,
            max_length=MAX_LENGTH,
        ),
        Param("dm", "Also send it privately to every active affiliate", kind=ParamKind.FLAG),
        Param(
            "ping",
            "A Discord role id to ping in the channel posts (nobody is pinged otherwise)",
            required=False,
            option=True,
            parse=_role_id,
            max_length=25,
        ),
    ],
    audience=Audience.MANAGER,
    examples=(
        "/announce Double commission on spring-sale this weekend!",
        "/announce New banners are in /materials --dm",
        "/announce Contest starts now! --ping 123456789012345678",
    ),
)
async def announce(invocation: Invocation, text: str, dm: bool, ping: str | None) -> Reply:
    """Queues an announcement for every configured announcement channel on every platform.
    With --dm it also goes privately to every active affiliate. The text is sent as you
    wrote it; it mentions nobody and is never read as formatting. With --ping ROLE_ID the
    Discord channel posts ping that one role (other platforms have no roles to ping)."""
    now = invocation.now
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    key = f"announce:{now.isoformat()}:{digest}"
    message = Reply(title="Announcement", text=text)
    async with invocation.database.transaction() as store:
        posted = replace(message, mention_role=ping)
        channels = notify.to_channels(invocation.settings, posted, key)
        recipients: list[int] = []
        if dm:
            recipients = [a.id for a in await store.affiliates.all_affiliates(status="active")]
        if not channels and not recipients:
            return Reply(
                text="No announcement channels are configured and --dm was not given, so "
                "nobody would receive this; nothing was queued."
            )
        private = await notify.to_affiliates(store, recipients, message, key)
        queued = await store.outbox.enqueue([*channels, *private], now=now)
        await store.audit.record(
            AuditEntry(
                actor=invocation.actor.label,
                action="announce",
                subject="announcement",
                before=None,
                after={"text": text, "dm": dm, "ping": ping, "messages": queued},
                occurred_at=now,
            )
        )
    parts = [f"{len(channels)} channels"]
    if dm:
        parts.append(f"{len(recipients)} affiliates privately")
    notes = (f"Discord posts ping the role {ping}.",) if ping else ()
    return Reply(text=f"Announcement queued for {' and '.join(parts)}.", notes=notes)
