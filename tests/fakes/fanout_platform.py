"""A fake messaging platform over HTTP, with a strict rate limit, and a Sender for it.

Used by the SIGKILL resume test and by ``python -m bench fanout``: the platform counts
every delivery by dedupe key (so lost and duplicated messages can be counted from
outside the dispatcher process) and answers 429 with ``retry_after`` when requests come
faster than its token bucket allows, as Telegram and Discord do.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from bot.adapters.delivery import RetryAfter, TargetKind, TransientFailure, Unreachable
from bot.priority import run_as_background
from commands.core.reply import Reply

PLATFORM = "fake"


@dataclass
class FakePlatform:
    """``rate`` messages/s with a bucket of ``burst``; targets in ``blocked`` answer 403."""

    rate: float = 500.0
    burst: float = 25.0
    blocked: set[str] = field(default_factory=set)
    received: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    first_at: float | None = None
    last_at: float | None = None
    _tokens: float = 0.0
    _checked: float = field(default_factory=time.monotonic)
    _runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> str:
        self._tokens = self.burst
        app = web.Application()
        app.router.add_post("/send", self._send)
        app.router.add_get("/stats", self._stats)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def delivered(self) -> int:
        return sum(self.received.values())

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.received.values() if n > 1)

    def _take(self) -> float:
        """Take a token; 0 if granted, else seconds until one is available."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._checked) * self.rate)
        self._checked = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.json()
        wait = self._take()
        if wait:
            self.rejected += 1
            return web.json_response(
                {"ok": False, "error_code": 429, "retry_after": round(wait, 3)}, status=429
            )
        if body["target_id"] in self.blocked:
            return web.json_response({"ok": False, "error_code": 403}, status=403)
        now = time.monotonic()
        self.first_at = self.first_at or now
        self.last_at = now
        self.received[body["dedupe_key"]] += 1
        return web.json_response({"ok": True})

    async def _stats(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "delivered": self.delivered,
                "unique": len(self.received),
                "duplicates": self.duplicates,
                "rejected": self.rejected,
                "first_at": self.first_at,
                "last_at": self.last_at,  # CLOCK_MONOTONIC: comparable across processes
            }
        )


async def serve(rate: float, burst: float) -> None:
    """Run the platform until SIGTERM, printing ``url URL`` once it listens."""
    platform = FakePlatform(rate=rate, burst=burst)
    print(f"url {await platform.start()}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await platform.close()


def main(argv: list[str]) -> None:
    """``python -m tests.fakes.fanout_platform --rate R --burst B``: the platform in a
    process of its own at background priority. It stands in for Telegram's or Discord's
    servers, which are not on the machine whose redirect latency the benchmark measures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--burst", type=float, required=True)
    args = parser.parse_args(argv)
    run_as_background()
    asyncio.run(serve(args.rate, args.burst))


class FakePlatformSender:
    """Sends to :class:`FakePlatform` and maps its answers onto the delivery errors."""

    platform = PLATFORM

    def __init__(self, url: str) -> None:
        self._url = url
        self._session: aiohttp.ClientSession | None = None

    async def send(
        self, target_kind: TargetKind, target_id: str, reply: Reply, *, dedupe_key: str
    ) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        payload = {
            "target_kind": target_kind,
            "target_id": target_id,
            "dedupe_key": dedupe_key,
            "text": reply.text,
        }
        try:
            async with self._session.post(f"{self._url}/send", json=payload) as response:
                body = await response.json()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise TransientFailure(f"network: {error}") from error
        if response.status == 429:
            raise RetryAfter(float(body["retry_after"]))
        if response.status == 403:
            raise Unreachable("blocked by the user")
        if response.status != 200:
            raise TransientFailure(f"HTTP {response.status}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


if __name__ == "__main__":
    main(sys.argv[1:])
