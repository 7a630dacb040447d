"""/announce: a manager's message to the announcement chats, and optionally to every
active affiliate privately."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from commands.core import notify
from commands.core.catalog import command
from commands.core.errors import Refused
from commands.core.invocation import Invocation
from commands.core.registry import Audience, Param, ParamKind
from commands.core.reply import Reply
from commands.core.words import plural
from storage.audit import AuditEntry

MAX_LENGTH = 2000  # fits a Discord message and a Telegram one with room for the title


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
            "Ping the Discord announcement role in the channel posts",
            kind=ParamKind.FLAG,
        ),
    ],
    audience=Audience.MANAGER,
    examples=(
        "/announce Double commission on spring-sale this weekend!",
        "/announce New banners are in /materials --dm",
        "/announce The contest starts now! --ping",
    ),
)
async def announce(invocation: Invocation, text: str, dm: bool, ping: bool) -> Reply:
    """Queues an announcement for every configured announcement channel on every platform.
    With --dm it also goes privately to every active affiliate. The text is sent as you
    wrote it; it mentions nobody and is never read as formatting. With --ping the Discord
    channel posts ping the announcement role set in the bot's configuration, and only
    that role (other platforms have no roles to ping)."""
    role = invocation.settings.announce_ping_role
    if ping and role is None:
        raise Refused(
            "No announcement role is configured (discord.announce_ping_role_id), so --ping "
            "cannot ping anyone; nothing was queued."
        )
    now = invocation.now
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    key = f"announce:{now.isoformat()}:{digest}"
    message = Reply(title="Announcement", text=text)
    async with invocation.database.transaction() as store:
        posted = replace(message, mention_role=role if ping else None)
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
    parts = [plural(len(channels), "{n} channel", "{n} channels")]
    if dm:
        parts.append(
            plural(len(recipients), "{n} affiliate privately", "{n} affiliates privately")
        )
    notes = (f"Discord posts ping the role {role}.",) if ping else ()
    return Reply(text=f"Announcement queued for {' and '.join(parts)}.", notes=notes)
