"""JSON shapes of Discord objects, as the fake Discord sends them (API v10).

Only the fields discord.py 2.7 reads, with realistic values; kept apart from the server so
tests can build users, members and guilds the same way the fake does.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_ids = itertools.count(1_100_000_000_000_000_000)
EVERYONE_PERMISSIONS = 1 << 10 | 1 << 11 | 1 << 31  # view channel, send messages, use commands
MANAGE_GUILD = 1 << 5
ADMINISTRATOR = 1 << 3


def snowflake() -> str:
    return str(next(_ids))


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class FakeUser:
    id: str
    username: str
    global_name: str | None = None
    bot: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }


@dataclass
class FakeMember:
    user: FakeUser
    roles: list[str] = field(default_factory=list)
    joined_at: str = field(default_factory=now_iso)

    def payload(self, *, with_user: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": list(self.roles),
            "joined_at": self.joined_at,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "nick": None,
            "avatar": None,
            "pending": False,
            "premium_since": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        return data


@dataclass
class FakeRole:
    id: str
    name: str
    permissions: int = 0
    position: int = 1

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": False,
            "mentionable": True,
            "flags": 0,
        }


@dataclass
class FakeChannel:
    id: str
    name: str
    guild_id: str | None = None
    type: int = 0  # 0 text, 1 DM

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "name": self.name,
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }
        if self.guild_id is not None:
            data["guild_id"] = self.guild_id
        return data


@dataclass
class FakeInvite:
    code: str
    guild_id: str
    channel_id: str
    inviter: FakeUser | None
    uses: int = 0
    max_uses: int = 0
    created_at: str = field(default_factory=now_iso)


@dataclass
class FakeGuild:
    id: str
    name: str
    owner_id: str
    roles: dict[str, FakeRole] = field(default_factory=dict)
    channels: dict[str, FakeChannel] = field(default_factory=dict)
    members: dict[str, FakeMember] = field(default_factory=dict)
    invites: dict[str, FakeInvite] = field(default_factory=dict)
    system_channel_id: str | None = None
    vanity_uses: int = 0

    def permissions_of(self, member: FakeMember) -> int:
        if member.user.id == self.owner_id:
            return (1 << 41) - 1
        value = self.roles[self.id].permissions
        for role_id in member.roles:
            value |= self.roles[role_id].permissions
        if value & ADMINISTRATOR:
            return (1 << 41) - 1
        return value

    def payload(self, bot_member: FakeMember) -> dict[str, Any]:
        members = [m.payload() for m in self.members.values()]
        members.append(bot_member.payload())
        return {
            "id": self.id,
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": self.owner_id,
            "region": None,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "system_channel_id": self.system_channel_id,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "vanity_url_code": None,
            "features": [],
            "roles": [role.payload() for role in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "channels": [channel.payload() for channel in self.channels.values()],
            "threads": [],
            "members": members,
            "member_count": len(members),
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "large": False,
            "unavailable": False,
            "joined_at": now_iso(),
            "max_members": 500000,
            "application_id": None,
        }

    def invite_payload(self, invite: FakeInvite) -> dict[str, Any]:
        channel = self.channels[invite.channel_id]
        return {
            "type": 0,
            "code": invite.code,
            "guild": {"id": self.id, "name": self.name, "features": [], "icon": None},
            "channel": {"id": channel.id, "name": channel.name, "type": channel.type},
            "inviter": invite.inviter.payload() if invite.inviter else None,
            "uses": invite.uses,
            "max_uses": invite.max_uses,
            "max_age": 0,
            "temporary": False,
            "created_at": invite.created_at,
        }


def message_payload(
    message_id: str,
    channel_id: str,
    author: FakeUser,
    body: dict[str, Any],
    attachments: list[tuple[str, bytes]],
    *,
    guild_id: str | None = None,
    webhook_id: str | None = None,
) -> dict[str, Any]:
    """A message object echoing what was sent, as Discord answers a create."""
    data: dict[str, Any] = {
        "id": message_id,
        "channel_id": channel_id,
        "author": author.payload(),
        "content": body.get("content") or "",
        "timestamp": now_iso(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [
            {
                "id": snowflake(),
                "filename": name,
                "size": len(data),
                "url": f"https://cdn.example.test/{name}",
                "proxy_url": f"https://media.example.test/{name}",
            }
            for name, data in attachments
        ],
        "embeds": body.get("embeds") or [],
        "components": body.get("components") or [],
        "pinned": False,
        "type": 0,
        "flags": body.get("flags") or 0,
    }
    if body.get("nonce") is not None:
        data["nonce"] = body["nonce"]
    if guild_id is not None:
        data["guild_id"] = guild_id
    if webhook_id is not None:
        data["webhook_id"] = webhook_id
    return data
