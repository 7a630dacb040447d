"""A fake Discord on 127.0.0.1: the REST API and the gateway, enough for discord.py 2.7.

The real discord.py client logs in over HTTP, syncs its commands, connects to the
WebSocket gateway (HELLO, IDENTIFY → READY, GUILD_CREATE per guild, heartbeats and ACKs)
and answers the interactions the test dispatches. Everything the bot sends is recorded:
interaction callbacks, follow-ups, DMs, channel messages, command syncs and invites.
``fail()`` makes the next matching request answer 429 (with rate-limit headers), a JSON
error such as 50007, or a 5xx.

Traps this fake respects (see PLATFORM-NOTES.md): JSON answers carry exactly
``Content-Type: application/json``; a 429 carries a ``Via`` header, or discord.py takes it
for a Cloudflare ban; every member has ``flags``.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from tests.fakes.discord_gateway import FakeGateway
from tests.fakes.discord_interactions import interaction_payload
from tests.fakes.discord_payloads import (
    EVERYONE_PERMISSIONS,
    FakeChannel,
    FakeGuild,
    FakeInvite,
    FakeMember,
    FakeRole,
    FakeUser,
    message_payload,
    snowflake,
)

API = "/api/v10"


@dataclass
class Failure:
    method: str
    pattern: re.Pattern[str]
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    times: int


@dataclass
class Sent:
    """A message the bot sent, wherever it went."""

    kind: str  # callback, followup, edit, channel
    body: dict[str, Any]
    files: list[tuple[str, bytes]] = field(default_factory=list)
    channel_id: str | None = None
    interaction_id: str | None = None
    token: str | None = None

    @property
    def embed(self) -> dict[str, Any]:
        data = self.body.get("data", self.body)
        embeds = data.get("embeds") or []
        return embeds[0] if embeds else {}

    @property
    def flags(self) -> int:
        return int(self.body.get("data", self.body).get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & 64)

    @property
    def allowed_mentions(self) -> dict[str, Any] | None:
        mentions: dict[str, Any] | None = self.body.get("data", self.body).get("allowed_mentions")
        return mentions


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


class FakeDiscord:
    """One fake application with its bot user, guilds and a gateway."""

    def __init__(self) -> None:
        self.token = "fake-bot-token"
        self.application_id = snowflake()
        self.bot = FakeUser(self.application_id, "affbot", "affbot", bot=True)
        self.owner = FakeUser(snowflake(), "owner")
        self.guilds: dict[str, FakeGuild] = {}
        self.syncs: list[tuple[str | None, list[dict[str, Any]]]] = []
        self.commands: dict[str | None, dict[str, dict[str, Any]]] = {}
        self.sent: list[Sent] = []
        self.autocompletes: dict[str, list[dict[str, Any]]] = {}
        self.dm_channels: dict[str, str] = {}  # channel id -> user id
        self.requests: list[tuple[str, str]] = []
        # Member role changes as (method, guild, member, role); roles the bot may not touch.
        self.member_roles: list[tuple[str, str, str, str]] = []
        self.forbidden_roles: set[str] = set()
        self._failures: list[Failure] = []
        self._nonces: dict[tuple[str, str], dict[str, Any]] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.gateway = FakeGateway(
            self.bot,
            self.application_id,
            lambda: list(self.guilds.values()),
            lambda: self.gateway_url,
        )

    # Lifecycle.

    async def start(self) -> None:
        app = web.Application(middlewares=[self._inject_failures])
        app.router.add_get("/gateway", self.gateway.handle)
        routes = [
            ("GET", "/users/@me", self._me),
            ("GET", "/oauth2/applications/@me", self._application),
            ("GET", "/gateway", self._gateway_url),
            ("GET", "/gateway/bot", self._gateway_bot),
            ("PUT", "/applications/{app}/commands", self._sync),
            ("PUT", "/applications/{app}/guilds/{guild}/commands", self._sync),
            ("POST", "/interactions/{id}/{token}/callback", self._callback),
            ("POST", "/webhooks/{app}/{token}", self._followup),
            ("PATCH", "/webhooks/{app}/{token}/messages/{message}", self._edit),
            ("POST", "/users/@me/channels", self._open_dm),
            ("POST", "/channels/{channel}/messages", self._channel_message),
            ("GET", "/guilds/{guild}/invites", self._list_invites),
            ("POST", "/channels/{channel}/invites", self._create_invite),
            ("PUT", "/guilds/{guild}/members/{member}/roles/{role}", self._member_role),
            ("DELETE", "/guilds/{guild}/members/{member}/roles/{role}", self._member_role),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, API + path, handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{API}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # World building.

    def add_guild(self, name: str = "Affiliates") -> FakeGuild:
        guild_id = snowflake()
        guild = FakeGuild(guild_id, name, self.owner.id)
        guild.roles[guild_id] = FakeRole(guild_id, "@everyone", EVERYONE_PERMISSIONS, 0)
        general = FakeChannel(snowflake(), "general", guild_id)
        guild.channels[general.id] = general
        guild.system_channel_id = general.id
        guild.members[self.owner.id] = FakeMember(self.owner)
        self.guilds[guild_id] = guild
        return guild

    def add_role(self, guild: FakeGuild, name: str, permissions: int = 0) -> FakeRole:
        role = FakeRole(snowflake(), name, permissions, len(guild.roles))
        guild.roles[role.id] = role
        return role

    def add_member(
        self, guild: FakeGuild, username: str, *, roles: tuple[FakeRole, ...] = ()
    ) -> FakeMember:
        member = FakeMember(FakeUser(snowflake(), username), [role.id for role in roles])
        guild.members[member.user.id] = member
        return member

    def add_invite(
        self, guild: FakeGuild, *, inviter: FakeUser | None = None, uses: int = 0
    ) -> FakeInvite:
        channel_id = guild.system_channel_id or next(iter(guild.channels))
        invite = FakeInvite(secrets.token_urlsafe(6), guild.id, channel_id, inviter, uses)
        guild.invites[invite.code] = invite
        return invite

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        *,
        code: int = 0,
        message: str = "",
        retry_after: float | None = None,
        times: int = 1,
        via: bool = True,
    ) -> None:
        """Answer the next ``times`` requests whose path matches ``path`` (a regex) with an
        error; 429s carry Discord's rate-limit headers and ``retry_after``."""
        body: dict[str, Any] = {"message": message or f"fake error {status}", "code": code}
        headers: dict[str, str] = {}
        if status == 429:
            wait = retry_after if retry_after is not None else 1.0
            body.update(retry_after=wait, **{"global": False})
            headers = {
                "Retry-After": str(wait),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset-After": str(wait),
                "X-RateLimit-Bucket": "fake-bucket",
                "X-RateLimit-Scope": "user",
            }
            if via:
                headers["Via"] = "1.1 google"
        self._failures.append(Failure(method, re.compile(path), status, body, headers, times))

    # Gateway events the tests trigger.

    async def dispatch(
        self, event: str, data: dict[str, Any], guild_id: str | None = None
    ) -> None:
        await self.gateway.dispatch(event, data, guild_id)

    async def member_join(
        self, guild: FakeGuild, username: str, *, via: FakeInvite | None = None
    ) -> FakeMember:
        member = FakeMember(FakeUser(snowflake(), username))
        guild.members[member.user.id] = member
        if via is not None:
            via.uses += 1
        await self.dispatch(
            "GUILD_MEMBER_ADD", {**member.payload(), "guild_id": guild.id}, guild.id
        )
        return member

    async def member_leave(self, guild: FakeGuild, member: FakeMember) -> None:
        guild.members.pop(member.user.id, None)
        await self.dispatch(
            "GUILD_MEMBER_REMOVE", {"guild_id": guild.id, "user": member.user.payload()}, guild.id
        )

    async def slash(
        self,
        guild: FakeGuild | None,
        member: FakeMember,
        command: str,
        options: dict[str, Any] | None = None,
        *,
        focused: str | None = None,
    ) -> str:
        """Dispatch INTERACTION_CREATE for ``/command`` (``program add`` is a subcommand);
        with ``focused``, an autocomplete request for that option. Returns the id."""
        scope = guild.id if guild is not None and guild.id in self.commands else None
        data = interaction_payload(
            self.commands[scope],
            self.application_id,
            guild,
            member,
            command,
            options or {},
            focused=focused,
            guild_scoped=scope is not None,
        )
        await self.dispatch("INTERACTION_CREATE", data, guild.id if guild else None)
        return str(data["id"])

    # Waiting for what the bot did.

    async def wait_for(self, predicate: Callable[[], Any], within: float = 5.0) -> Any:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            result = predicate()
            if result:
                return result
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("the bot did not do what the test waited for")
            await asyncio.sleep(0.01)

    def replies_to(self, interaction_id: str) -> list[Sent]:
        """The callback and follow-ups of one interaction, in order."""
        token = f"token-{interaction_id}"
        return [s for s in self.sent if s.interaction_id == interaction_id or s.token == token]

    async def answer(self, interaction_id: str, count: int = 1) -> list[Sent]:
        """Wait until the interaction has ``count`` visible messages; returns them all.

        A deferral (type 5) is not a message; the follow-ups after it are.
        """

        def visible() -> list[Sent]:
            messages = [
                s
                for s in self.replies_to(interaction_id)
                if s.kind != "callback" or s.body.get("type") == 4
            ]
            return messages if len(messages) >= count else []

        result: list[Sent] = await self.wait_for(visible)
        return result

    def channel_messages(self, channel_id: str) -> list[Sent]:
        return [s for s in self.sent if s.kind == "channel" and s.channel_id == channel_id]

    # REST handlers.

    @web.middleware
    async def _inject_failures(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        # Interaction callbacks and webhooks authenticate by their token in the path.
        tokenless = request.path.startswith((f"{API}/interactions/", f"{API}/webhooks/"))
        authorized = request.headers.get("Authorization") == f"Bot {self.token}"
        if request.path.startswith(API) and not tokenless and not authorized:
            return _json({"message": "401: Unauthorized", "code": 0}, 401)
        for failure in self._failures:
            if failure.method == request.method and failure.pattern.search(request.path):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return _json(failure.body, failure.status, failure.headers)
        response: web.StreamResponse = await handler(request)
        return response

    async def _me(self, request: web.Request) -> web.Response:
        return _json(self.bot.payload())

    async def _application(self, request: web.Request) -> web.Response:
        return _json(
            {
                "id": self.application_id,
                "name": "affbot",
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.owner.payload(),
                "verify_key": "0" * 64,
                "flags": 0,
                "team": None,
            }
        )

    async def _gateway_url(self, request: web.Request) -> web.Response:
        return _json({"url": self.gateway_url})

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        return _json(
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    async def _sync(self, request: web.Request) -> web.Response:
        guild = request.match_info.get("guild")
        payload = await request.json()
        stored = []
        for command in payload:
            stored.append(
                {
                    **command,
                    "id": snowflake(),
                    "application_id": self.application_id,
                    "version": snowflake(),
                    "guild_id": guild,
                    "type": command.get("type", 1),
                }
            )
        self.syncs.append((guild, payload))
        self.commands[guild] = {command["name"]: command for command in stored}
        return _json(stored)

    async def _callback(self, request: web.Request) -> web.Response:
        interaction_id = request.match_info["id"]
        body, files = await self._body(request)
        kind = body.get("type")
        self.sent.append(Sent("callback", body, files, interaction_id=interaction_id))
        if kind == 8:
            self.autocompletes.setdefault(interaction_id, []).extend(body["data"]["choices"])
            return web.Response(status=204)
        data = body.get("data") or {}
        message = message_payload(snowflake(), snowflake(), self.bot, data, files)
        return _json(
            {
                "interaction": {
                    "id": interaction_id,
                    "type": 2,
                    "response_message_id": message["id"],
                    "response_message_loading": kind == 5,
                    "response_message_ephemeral": bool((data.get("flags") or 0) & 64),
                },
                "resource": {"type": kind, "message": message},
            }
        )

    async def _followup(self, request: web.Request) -> web.Response:
        body, files = await self._body(request)
        token = request.match_info["token"]
        self.sent.append(Sent("followup", body, files, token=token))
        return _json(
            message_payload(
                snowflake(), snowflake(), self.bot, body, files, webhook_id=self.application_id
            )
        )

    async def _edit(self, request: web.Request) -> web.Response:
        body, files = await self._body(request)
        self.sent.append(Sent("edit", body, files, token=request.match_info["token"]))
        return _json(message_payload(snowflake(), snowflake(), self.bot, body, files))

    async def _open_dm(self, request: web.Request) -> web.Response:
        recipient = str((await request.json())["recipient_id"])
        channel_id = next(
            (cid for cid, uid in self.dm_channels.items() if uid == recipient), snowflake()
        )
        self.dm_channels[channel_id] = recipient
        user = next(
            (
                member.user.payload()
                for guild in self.guilds.values()
                for member in guild.members.values()
                if member.user.id == recipient
            ),
            FakeUser(recipient, f"user{recipient[-4:]}").payload(),
        )
        return _json({"id": channel_id, "type": 1, "recipients": [user], "last_message_id": None})

    async def _channel_message(self, request: web.Request) -> web.Response:
        channel_id = request.match_info["channel"]
        body, files = await self._body(request)
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            earlier = self._nonces.get((channel_id, str(nonce)))
            if earlier is not None:
                return _json(earlier)  # Discord returns the message it already created
        self.sent.append(Sent("channel", body, files, channel_id=channel_id))
        message = message_payload(snowflake(), channel_id, self.bot, body, files)
        if nonce is not None:
            self._nonces[(channel_id, str(nonce))] = message
        return _json(message)

    async def _member_role(self, request: web.Request) -> web.Response:
        """Add or remove a member's role: 403 like Discord for a role above the bot's (or
        without Manage Roles), 404 for an unknown member or role."""
        info = request.match_info
        guild = self.guilds.get(info["guild"])
        if guild is None or info["member"] not in guild.members or info["role"] not in guild.roles:
            return _json({"message": "Unknown Member", "code": 10007}, 404)
        if info["role"] in self.forbidden_roles:
            return _json({"message": "Missing Permissions", "code": 50013}, 403)
        roles = guild.members[info["member"]].roles
        if request.method == "PUT" and info["role"] not in roles:
            roles.append(info["role"])
        if request.method == "DELETE" and info["role"] in roles:
            roles.remove(info["role"])
        self.member_roles.append((request.method, info["guild"], info["member"], info["role"]))
        return web.Response(status=204)

    async def _list_invites(self, request: web.Request) -> web.Response:
        guild = self.guilds[request.match_info["guild"]]
        return _json([guild.invite_payload(invite) for invite in guild.invites.values()])

    async def _create_invite(self, request: web.Request) -> web.Response:
        channel_id = request.match_info["channel"]
        guild = next(g for g in self.guilds.values() if channel_id in g.channels)
        invite = FakeInvite(secrets.token_urlsafe(6), guild.id, channel_id, self.bot)
        guild.invites[invite.code] = invite
        payload = guild.invite_payload(invite)
        await self.dispatch(
            "INVITE_CREATE",
            {
                "channel_id": channel_id,
                "guild_id": guild.id,
                "code": invite.code,
                "created_at": invite.created_at,
                "inviter": self.bot.payload(),
                "max_age": 0,
                "max_uses": 0,
                "temporary": False,
                "uses": 0,
            },
            guild.id,
        )
        return _json(payload)

    async def _body(self, request: web.Request) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
        if not request.content_type.startswith("multipart/"):
            text = await request.text()
            return (json.loads(text) if text else {}), []
        body: dict[str, Any] = {}
        files: list[tuple[str, bytes]] = []
        reader = await request.multipart()
        async for part in reader:
            assert isinstance(part, BodyPartReader)  # discord.py sends no nested multipart
            if part.name == "payload_json":
                body = json.loads(await part.text())
            else:
                files.append((part.filename or "", bytes(await part.read())))
        return body, files
