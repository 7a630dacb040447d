"""``python -m bench fanout``: how close a broadcast gets to the platform's rate limit.

Queues N private messages and delivers them, through a real dispatcher process, to a
local fake platform that allows R messages/s and answers 429 with ``retry_after`` beyond
that. The clock starts when the broadcast is committed to the outbox of an already
running bot (as when a manager announces something) and stops at the last delivery.

Prints: completion time, the theoretical minimum N/R, their ratio (target ≤ 1.10), lost
messages (target 0) and duplicates (target 0; with ``--kill-at``, at most the messages in
flight). Without ``--kill-at`` it also measures loop isolation: p99 latency of referral
redirects while the broadcast is delivered, divided by the idle p99 (target ≤ 1.5). The
tracking server runs in a process of its own and the dispatcher in another, the layout
``affbot run`` uses (``affbot deliver`` as its child); ``--same-loop`` measures the old
layout instead, the tracking server on the dispatcher's event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from commands.core.reply import Reply
from storage import Database
from storage.migrate import upgrade
from storage.outbox import OutgoingMessage
from storage.programs import Commission, NewProgram
from tests.fakes.fanout_platform import PLATFORM

ROOT = Path(__file__).resolve().parent.parent
BROADCAST = "fanout"
MARK_BATCH = 20  # DispatchSettings.mark_batch default


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench fanout", description=__doc__)
    parser.add_argument("--messages", type=int, default=5_000, help="N (default 5000)")
    parser.add_argument("--rate", type=float, default=500.0, help="R msg/s (default 500)")
    parser.add_argument(
        "--send-rate",
        type=float,
        help="the dispatcher's configured pace (default R; set it higher to exercise 429s)",
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--kill-at", type=float, help="SIGKILL the dispatcher at this fraction, then restart"
    )
    parser.add_argument(
        "--same-loop",
        action="store_true",
        help="serve the tracking server on the dispatcher's event loop (the old layout)",
    )
    parser.add_argument("--probe", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=3.0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


async def prepare(url: str) -> str:
    """Migrate a fresh database and create one referral link; returns its code."""
    database = Database.connect(url)
    now = datetime.now(UTC)
    try:
        await upgrade(database)
        async with database.transaction() as store:
            program = await store.programs.add(
                NewProgram(
                    "shop",
                    "Shop",
                    "https://shop.example/",
                    "USD",
                    Commission("percent", 1000, "USD", now),
                ),
                now=now,
                actor="bench",
            )
            affiliate = await store.affiliates.ensure_for_identity("bench", "1", "B", now=now)
            await store.affiliates.join(affiliate.id, program.id, "approved", now=now)
            link = await store.links.ensure(affiliate.id, program.id, "", now=now)
    finally:
        await database.close()
    return link.code


async def enqueue(url: str, count: int) -> None:
    database = Database.connect(url)
    payload = Reply(text="Your weekly results are in.").to_json()
    try:
        async with database.transaction() as store:
            await store.outbox.enqueue(
                (
                    OutgoingMessage(f"fanout:{n}", PLATFORM, "user", str(n), payload, BROADCAST)
                    for n in range(count)
                ),
                now=datetime.now(UTC),
            )
    finally:
        await database.close()


async def worker(
    url: str, platform: str, args: argparse.Namespace, *, web: str = ""
) -> asyncio.subprocess.Process:
    """A dispatcher process; ``web`` "--serve-web" adds the tracking server to its loop,
    "--serve-web-only" makes it a tracking server without a dispatcher."""
    command = [
        sys.executable,
        "-m",
        "tests.fakes.dispatch_worker",
        url,
        platform,
        "--rate",
        str(args.send_rate or args.rate),
        "--concurrency",
        str(args.concurrency),
        "--expect",
        str(args.messages),
        "--broadcast",
        BROADCAST,
    ]
    if web:
        command.append(web)
    return await asyncio.create_subprocess_exec(
        *command,
        cwd=ROOT,
        env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"},
        stdin=asyncio.subprocess.PIPE,  # closed when the benchmark ends, however it ends
        stdout=asyncio.subprocess.PIPE,
    )


async def probe(url: str, seconds: float) -> list[float]:
    """Sequential redirect requests for ``seconds``; latencies in milliseconds."""
    latencies: list[float] = []
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            async with session.get(url, allow_redirects=False) as response:
                await response.read()
                assert response.status == 302, response.status
            latencies.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.005)
    return latencies


async def probe_elsewhere(url: str, seconds: float) -> list[float]:
    """Run :func:`probe` in its own process, so the fake platform does not skew it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.fanout",
        "--probe",
        url,
        "--seconds",
        str(seconds),
        cwd=ROOT,
        env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    latencies: list[float] = json.loads(out)
    return latencies


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else float("nan")


async def run(args: argparse.Namespace) -> int:
    if args.probe:
        print(json.dumps(await probe(args.probe, args.seconds)))
        return 0
    folder = Path(tempfile.mkdtemp(prefix="affbot-fanout-"))
    url = f"sqlite:///{folder / 'fanout.db'}"
    code = await prepare(url)
    platform = await Platform.start(args.rate, max(5.0, args.rate / 20))
    kill = args.kill_at is not None
    process: asyncio.subprocess.Process | None = None
    web: asyncio.subprocess.Process | None = None
    try:
        if args.same_loop and not kill:
            process = web = await worker(url, platform.url, args, web="--serve-web")
        else:
            web = None if kill else await worker(url, platform.url, args, web="--serve-web-only")
            process = await worker(url, platform.url, args)
        idle: list[float] = []
        busy_probe = None
        redirect = ""
        if web is not None:
            assert web.stdout is not None
            line = (await web.stdout.readline()).decode().split()
            redirect = f"http://127.0.0.1:{line[1]}/r/{code}"
            # As long as the busy window: a p99 over ~450 requests (3 s) is the 5th worst
            # and swung the ratio by ±0.3 between otherwise equal runs.
            idle = await probe_elsewhere(redirect, args.messages / args.rate * 0.8)
        else:
            await asyncio.sleep(1.5)  # the worker is up and polling an empty outbox
        started = time.monotonic()
        await enqueue(url, args.messages)
        killed_at = None
        if kill:
            killed_at = await kill_at(platform, process, args.messages * args.kill_at)
            process = await worker(url, platform.url, args)
        else:
            seconds = args.messages / args.rate * 0.8
            busy_probe = asyncio.create_task(probe_elsewhere(redirect, seconds))
        await process.communicate()
        busy = await busy_probe if busy_probe is not None else []
        if web is not None and web is not process:
            if web.stdin is not None:
                web.stdin.close()  # end of stdin: the tracking server stops
            await web.communicate()
        stats = await platform.stats()
    finally:
        for child in (process, web):  # a failed run leaves no process behind
            if child is not None and child.returncode is None:
                child.kill()
                await child.wait()
        await platform.close()
    elapsed = (stats["last_at"] or started) - started
    report(args, stats, elapsed, killed_at, idle, busy)
    return 0 if stats["unique"] == args.messages else 1


async def kill_at(platform: Platform, process: asyncio.subprocess.Process, at: float) -> int:
    """SIGKILL the dispatcher once ``at`` messages arrived; returns deliveries so far."""
    while (await platform.stats())["delivered"] < at:  # noqa: ASYNC110 - counted elsewhere
        await asyncio.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    await process.wait()
    return int((await platform.stats())["delivered"])


class Platform:
    """The fake platform (``tests.fakes.fanout_platform``) in a process of its own, at
    background priority: it stands in for servers that are not on this machine, and in
    the benchmark's own process it competed with the tracking server for the CPU."""

    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self._process = process
        self.url = url
        self._session = aiohttp.ClientSession()

    @classmethod
    async def start(cls, rate: float, burst: float) -> Platform:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.fakes.fanout_platform",
            "--rate",
            str(rate),
            "--burst",
            str(burst),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        line = (await process.stdout.readline()).decode().split()
        if len(line) != 2 or line[0] != "url":
            process.kill()
            await process.wait()
            raise RuntimeError("the fake platform did not start")
        return cls(process, line[1])

    async def stats(self) -> dict[str, Any]:
        async with self._session.get(f"{self.url}/stats") as response:
            stats: dict[str, Any] = await response.json()
            return stats

    async def close(self) -> None:
        await self._session.close()
        if self._process.returncode is None:
            self._process.terminate()
            await self._process.wait()


def report(
    args: argparse.Namespace,
    stats: dict[str, Any],
    elapsed: float,
    killed_at: int | None,
    idle: list[float],
    busy: list[float],
) -> None:
    minimum = args.messages / args.rate
    lost = args.messages - int(stats["unique"])
    print(f"messages          {args.messages}")
    print(f"platform limit    {args.rate:g} msg/s (429 beyond; {stats['rejected']} rejected)")
    print(f"dispatcher pace   {args.send_rate or args.rate:g} msg/s")
    print(f"completion time   {elapsed:.2f} s")
    print(f"minimum N/R       {minimum:.2f} s")
    print(f"ratio             {elapsed / minimum:.3f}  (target <= 1.10)")
    print(f"lost              {lost}  (target 0)")
    print(f"duplicated        {stats['duplicates']}", end="")
    if killed_at is not None:
        bound = args.concurrency + 2 * MARK_BATCH
        print(f"  (killed after {killed_at} deliveries; in-flight bound {bound})")
    else:
        print("  (target 0)")
    if idle and busy:
        print(
            f"redirect idle     p50 {statistics.median(idle):.2f} ms, "
            f"p99 {p99(idle):.2f} ms ({len(idle)} requests)"
        )
        print(
            f"redirect busy     p50 {statistics.median(busy):.2f} ms, "
            f"p99 {p99(busy):.2f} ms ({len(busy)} requests)"
        )
        print(f"isolation ratio   {p99(busy) / p99(idle):.2f}  (target <= 1.5)")
        layout = "one event loop" if args.same_loop else "separate processes"
        print(f"layout            tracking server and dispatcher in {layout}")


def main(argv: list[str]) -> int:
    return asyncio.run(run(parse(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
