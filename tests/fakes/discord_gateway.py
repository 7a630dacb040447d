"""The fake Discord gateway: HELLO, heartbeats and ACKs, IDENTIFY → READY and GUILD_CREATE,
then whatever events the test dispatches, routed to the right shard.

discord.py asks for ``compress=zlib-stream``; frames are then sent as binary zlib data
flushed with ``Z_SYNC_FLUSH``, one compression context per connection, as Discord does.
"""

from __future__ import annotations

import json
import secrets
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.discord_payloads import FakeGuild, FakeMember, FakeUser


@dataclass(eq=False)
class _Session:
    """One gateway connection (one shard)."""

    ws: web.WebSocketResponse
    compressor: Any | None  # zlib.compressobj shared by the whole connection
    shard_id: int = 0
    shard_count: int = 1

    async def send(self, frame: dict[str, Any]) -> None:
        text = json.dumps(frame)
        if self.compressor is None:
            await self.ws.send_str(text)
            return
        data = self.compressor.compress(text.encode()) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        await self.ws.send_bytes(data)


def shard_of(guild_id: str, shard_count: int) -> int:
    """Discord's rule: ``(guild_id >> 22) % shard_count``."""
    return (int(guild_id) >> 22) % shard_count


class FakeGateway:
    def __init__(
        self,
        bot: FakeUser,
        application_id: str,
        guilds: Callable[[], list[FakeGuild]],
        url: Callable[[], str],
    ) -> None:
        self._bot = bot
        self._application_id = application_id
        self._guilds = guilds
        self._url = url
        self._sessions: list[_Session] = []
        self._seq = 0
        self.identifies: list[dict[str, Any]] = []
        self.heartbeat_acks = 0
        self.compressed_sessions = 0
        self.heartbeat_interval_ms = 41_250

    async def close(self) -> None:
        for session in list(self._sessions):
            await session.ws.close()

    async def dispatch(self, event: str, data: dict[str, Any], guild_id: str | None) -> None:
        for session in list(self._sessions):
            # Guild events go to the guild's shard, direct-message events to shard 0.
            owner = shard_of(guild_id, session.shard_count) if guild_id is not None else 0
            if owner == session.shard_id:
                await self._event(session, event, data)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        compressed = request.query.get("compress") == "zlib-stream"
        self.compressed_sessions += compressed
        session = _Session(ws, zlib.compressobj() if compressed else None)
        await session.send({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                frame = json.loads(message.data)
                if frame["op"] == 1:
                    self.heartbeat_acks += 1
                    await session.send({"op": 11})
                elif frame["op"] == 2:
                    identify = frame["d"]
                    self.identifies.append(identify)
                    session.shard_id, session.shard_count = identify.get("shard") or [0, 1]
                    self._sessions.append(session)
                    await self._ready(session)
        finally:
            if session in self._sessions:
                self._sessions.remove(session)
        return ws

    async def _event(self, session: _Session, event: str, data: dict[str, Any]) -> None:
        self._seq += 1
        await session.send({"op": 0, "t": event, "s": self._seq, "d": data})

    async def _ready(self, session: _Session) -> None:
        mine = [
            guild
            for guild in self._guilds()
            if shard_of(guild.id, session.shard_count) == session.shard_id
        ]
        ready = {
            "v": 10,
            "user": self._bot.payload(),
            "guilds": [{"id": guild.id, "unavailable": True} for guild in mine],
            "session_id": secrets.token_hex(16),
            "resume_gateway_url": self._url(),
            "application": {"id": self._application_id, "flags": 0},
            "shard": [session.shard_id, session.shard_count],
            "private_channels": [],
        }
        await self._event(session, "READY", ready)
        bot_member = FakeMember(self._bot)
        for guild in mine:
            await self._event(session, "GUILD_CREATE", guild.payload(bot_member))
