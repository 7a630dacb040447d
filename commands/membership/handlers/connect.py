"""/connect: one affiliate, many platforms.

Without a code, an affiliate gets a one-time code valid for ten minutes; typed with
/connect on another platform, it attaches that account to the same affiliate. If that
account had become an affiliate of its own, the two are merged: stats, links, earnings
and memberships all belong to the affiliate, so they add up.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from commands.core.catalog import command
from commands.core.errors import Refused
from commands.core.invocation import Invocation
from commands.core.registry import Param
from commands.core.reply import Field, Reply, Visibility
from storage.audit import AuditEntry

log = logging.getLogger(__name__)

CODE_LIFETIME = timedelta(minutes=10)
# No 0/O or 1/I/L: the code is read on one screen and typed on another.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


def _code(text: str) -> str:
    cleaned = text.strip().upper().replace("-", "").replace(" ", "")
    if len(cleaned) != CODE_LENGTH or any(char not in CODE_ALPHABET for char in cleaned):
        raise ValueError(
            f"{text!r} is not a connect code: it has {CODE_LENGTH} letters and digits"
        )
    return cleaned


def new_code() -> str:
    """A fresh code such as ``K7MX3QPA`` (31^8 ≈ 8.5·10^11 possibilities)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


@command(
    "connect",
    "Link your accounts on other platforms to one affiliate",
    params=[
        Param(
            "code",
            "The code /connect gave you on your other platform",
            required=False,
            parse=_code,
            max_length=20,
        )
    ],
    examples=("/connect", "/connect K7MX3QPA"),
    private=True,
)
async def connect(invocation: Invocation, code: str | None) -> Reply:
    """Without a code, gives you a one-time code (valid for 10 minutes). Type
    /connect <code> on your other platform (Discord, Telegram) and both accounts become
    one affiliate: your stats, links and earnings add up, and private messages reach you
    on both."""
    if code is None:
        return await _issue(invocation)
    return await _redeem(invocation, code)


async def _issue(invocation: Invocation) -> Reply:
    actor = invocation.actor
    code = new_code()
    async with invocation.database.transaction() as store:
        affiliate = await store.affiliates.by_identity(actor.platform, actor.user_id)
        if affiliate is None:
            raise Refused(
                "Join a program first (/programs, /join <program>); then /connect links "
                "your other accounts to it."
            )
        await store.connect.issue(
            affiliate.id, code, now=invocation.now, expires_at=invocation.now + CODE_LIFETIME
        )
    return Reply(
        title="Your connect code",
        text=(
            f"On your other platform, send /connect {code} to this bot within 10 minutes. "
            "Keep the code to yourself: it links an account to your earnings."
        ),
        fields=(Field("Code", code),),
        visibility=Visibility.PRIVATE,
    )


async def _redeem(invocation: Invocation, code: str) -> Reply:
    actor = invocation.actor
    now = invocation.now
    async with invocation.database.transaction() as store:
        owner_id = await store.connect.redeem(code, now=now)
        if owner_id is None:
            log.info("connect code refused for %s", actor.label)
            raise Refused(
                "That code is not valid: it may have expired or been used. "
                "Get a new one with /connect."
            )
        current = await store.affiliates.by_identity(actor.platform, actor.user_id)
        if current is not None and current.id == owner_id:
            raise Refused("This account is already connected to that affiliate.")
        if current is None:
            await store.affiliates.attach_identity(
                owner_id, actor.platform, actor.user_id, actor.display_name, now=now
            )
        else:
            await store.connect.merge(current.id, owner_id)
            if current.status == "suspended":
                # A suspension follows the person: merging must not lift it.
                await store.affiliates.set_status(
                    owner_id, "suspended", reason=current.suspended_reason
                )
        await store.audit.record(
            AuditEntry(
                actor=actor.label,
                action="affiliate.connect",
                subject=f"affiliate:{owner_id}",
                before={"account": actor.label, "affiliate": current.id if current else None},
                after={"account": actor.label, "affiliate": owner_id},
                occurred_at=now,
            )
        )
        identities = await store.affiliates.identities_of(owner_id)
    platforms = sorted({identity.platform for identity in identities})
    merged = " Your stats and earnings from both accounts now add up." if current else ""
    return Reply(
        title="Accounts connected",
        text=(
            f"This account is now part of your affiliate profile ({', '.join(platforms)}).{merged}"
        ),
        visibility=Visibility.PRIVATE,
    )
