"""Building outbox messages: private notes to an affiliate and posts to announcement chats.

Handlers queue these inside the transaction of the change they announce, so a message
exists if and only if the change was committed. Dedupe keys name the event plus the
target, so repeating the queuing step (a retry) never doubles a message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from commands.core.invocation import Settings
from commands.core.reply import Reply, Visibility
from storage import Store
from storage.outbox import OutgoingMessage


async def to_affiliate(
    store: Store, affiliate_id: int, reply: Reply, key: str
) -> list[OutgoingMessage]:
    """One private message per account the affiliate has (every platform they use)."""
    private = _as(reply, Visibility.PRIVATE)
    return [
        OutgoingMessage(
            dedupe_key=f"{key}:{identity.platform}:user:{identity.platform_user_id}",
            platform=identity.platform,
            target_kind="user",
            target_id=identity.platform_user_id,
            payload=private.to_json(),
        )
        for identity in await store.affiliates.identities_of(affiliate_id)
    ]


async def to_affiliates(
    store: Store, affiliate_ids: Iterable[int], reply: Reply, key: str
) -> list[OutgoingMessage]:
    """The same private message to several affiliates (one broadcast, grouped by key)."""
    private = _as(reply, Visibility.PRIVATE)
    messages = []
    by_affiliate = await store.affiliates.identities_of_many(affiliate_ids)
    for identities in by_affiliate.values():
        for identity in identities:
            messages.append(
                OutgoingMessage(
                    dedupe_key=f"{key}:{identity.platform}:user:{identity.platform_user_id}",
                    platform=identity.platform,
                    target_kind="user",
                    target_id=identity.platform_user_id,
                    payload=private.to_json(),
                    broadcast_key=key,
                )
            )
    return messages


def to_channels(settings: Settings, reply: Reply, key: str) -> list[OutgoingMessage]:
    """A public post in every configured announcement chat."""
    return to_targets(settings.announce_targets, reply, key)


def to_targets(
    targets: Iterable[tuple[str, str]], reply: Reply, key: str
) -> list[OutgoingMessage]:
    """A public post in each of ``targets`` ((platform, chat id) pairs), for paths such as
    tracking that carry the announcement targets without the whole ``Settings``."""
    public = _as(reply, Visibility.PUBLIC)
    return [
        OutgoingMessage(
            dedupe_key=f"{key}:{platform}:chat:{chat_id}",
            platform=platform,
            target_kind="chat",
            target_id=chat_id,
            payload=public.to_json(),
            broadcast_key=key,
        )
        for platform, chat_id in targets
    ]


async def program_members(store: Store, program_id: int) -> list[int]:
    """Active affiliates approved in a program: who hears about its changes."""
    memberships = await store.affiliates.memberships_with_status("approved", program_id=program_id)
    found = await store.affiliates.get_many(m.affiliate_id for m in memberships)
    return [m.affiliate_id for m in memberships if found[m.affiliate_id].status == "active"]


def _as(reply: Reply, visibility: Visibility) -> Reply:
    return replace(reply, visibility=visibility)
