"""``python -m bench redirect``: affbot's tracking server against a bare aiohttp app.

1. Seeds a fresh SQLite database with a program, an affiliate and a link.
2. Starts ``affbot run`` on it (the real process: config, migrations, click buffer) and the
   bare app from ``bench.bare``, each in its own process.
3. Drives ``GET /r/{code}`` on each with the same load generator, alternating rounds so
   drift of the machine hits both, and prints requests/s, p50/p99 and the ratios.
4. Sends every postback three times concurrently to both, and counts what was stored.
5. Stops affbot with SIGTERM and checks that every answered redirect left one click.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import aiohttp
from sqlalchemy.ext.asyncio import create_async_engine

from bench.loadgen import LoadResult, drive
from storage import Database
from storage.database import async_url
from storage.migrate import upgrade
from storage.programs import Commission, NewProgram

TOKEN = "bench-token-0123456789"  # noqa: S105 - the bench's own throwaway database
THROUGHPUT_TARGET = 0.6
P99_TARGET = 2.0
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


@dataclass(frozen=True)
class Options:
    seconds: float
    rounds: int
    connections: int
    postbacks: int
    postback_concurrency: int
    postgres: str | None = None  # a server URL: the run gets a fresh database on it
    visitors: int = 1  # distinct addresses the redirects come from (X-Forwarded-For)


def visitor_addresses(count: int) -> list[str]:
    """``count`` addresses in as many /24 networks as possible (up to 65 536), as an
    ordinary crowd of visitors is: no address or network floods, so no fraud flag."""
    return [
        f"10.{visitor % 256}.{visitor // 256 % 256}.{visitor // 65536 % 250 + 1}"
        for visitor in range(count)
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def seed(url: str) -> str:
    """Create the program, affiliate and link; returns the link code."""
    database = Database.connect(url)
    try:
        await upgrade(database)
        now = time_now()
        async with database.transaction() as store:
            program = await store.programs.add(
                NewProgram(
                    slug="bench",
                    name="Bench",
                    destination_url="https://shop.example/landing?lang=en",
                    currency="USD",
                    commission=Commission("percent", 1000, "USD", now),
                ),
                now=now,
                actor="bench",
            )
            await store.program_settings.replace_settings(
                program.id, {"postback": {"auth": "token", "secret": TOKEN}}, now=now
            )
            affiliate = await store.affiliates.ensure_for_identity(
                "console", "bench", "Bench", now=now
            )
            await store.affiliates.join(affiliate.id, program.id, "approved", now=now)
            link = await store.links.ensure(affiliate.id, program.id, "", now=now)
        return link.code
    finally:
        await database.close()


def time_now() -> datetime:
    return datetime.now(UTC)


async def wait_healthy(port: int, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if process.returncode is not None:
                raise RuntimeError(f"server on port {port} exited with {process.returncode}")
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not become healthy")


async def count(url: str) -> tuple[int, int]:
    """(clicks, conversions) stored."""
    database = Database.connect(url)
    try:
        async with database.read() as store:
            return await store.clicks.count(), await store.conversions.count()
    finally:
        await database.close()


async def collect_click_ids(port: int, code: str, count: int) -> list[str]:
    """Follow ``count`` referral links as a browser would and keep their click ids.

    The postbacks report these, as a network would: a postback without a click (or one
    a few seconds after it) is what the fraud rules flag, and a benchmark full of flags
    would measure the alerting, not the recording. Collected before the timed rounds, so
    the clicks are long written and older than ``fraud.min_seconds_to_convert``.
    """
    ids: list[str] = []
    headers = {"User-Agent": BROWSER}
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            async with session.get(
                f"http://127.0.0.1:{port}/r/{code}", allow_redirects=False, headers=headers
            ) as response:
                location = response.headers["Location"]
            ids.append(parse_qs(urlsplit(location).query)["click_id"][0])
    return ids


async def send_postbacks(
    port: int, code: str, *, unique: int, concurrency: int, prefix: str, click_ids: list[str]
) -> tuple[float, int, int]:
    """Send each of ``unique`` postbacks three times at once; returns (seconds, 2xx, other)."""
    ok = failed = 0
    semaphore = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency * 3)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(path: str) -> None:
            nonlocal ok, failed
            async with session.get(f"http://127.0.0.1:{port}{path}") as response:
                await response.read()
                if 200 <= response.status < 300:
                    ok += 1
                else:
                    failed += 1

        async def thrice(index: int) -> None:
            query = urlencode(
                {
                    "program": "bench",
                    "token": TOKEN,
                    "code": code,
                    "click_id": click_ids[index % len(click_ids)],
                    "txn_id": f"{prefix}-{index}",
                    "amount": "10.00",
                }
            )
            async with semaphore:
                await asyncio.gather(*(one(f"/postback?{query}") for _ in range(3)))

        started = time.perf_counter()
        await asyncio.gather(*(thrice(index) for index in range(unique)))
        return time.perf_counter() - started, ok, failed


def row(name: str, result: LoadResult) -> str:
    return (
        f"  {name:<10} {result.rate:>10.0f} {result.percentile(0.5) * 1000:>9.2f} "
        f"{result.percentile(0.99) * 1000:>9.2f} {result.requests:>10}"
    )


@contextlib.asynccontextmanager
async def fresh_database(workdir: Path, postgres: str | None) -> AsyncIterator[str]:
    """A database URL for one run: SQLite in ``workdir``, or a new PostgreSQL database on
    the ``postgres`` server, dropped afterwards (so runs never share rows or indexes)."""
    if postgres is None:
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    name = f"affbot_bench_{secrets.token_hex(4)}"
    admin = create_async_engine(async_url(postgres), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield urlunsplit(urlsplit(postgres)._replace(path=f"/{name}"))
        finally:
            async with admin.connect() as connection:
                await connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.dispose()


async def run(options: Options) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="affbot-bench-"))
    async with fresh_database(workdir, options.postgres) as url:
        return await _run(options, workdir, url)


async def _run(options: Options, workdir: Path, url: str) -> int:
    code = await seed(url)
    affbot_port, bare_port = free_port(), free_port()
    env = {
        **os.environ,
        "AFFBOT_DATABASE__URL": url,
        "AFFBOT_WEB__PORT": str(affbot_port),
        "AFFBOT_LOGGING__LEVEL": "WARNING",
        # Every benchmark request comes from 127.0.0.1: the per-address limit is off here.
        "AFFBOT_TRACKING__REDIRECTS_PER_MINUTE": "0",
        "AFFBOT_CONFIG": str(workdir / "none.toml"),
        # With --visitors the load generator names its visitors in X-Forwarded-For, as a
        # reverse proxy would; the bare app ignores the header.
        "AFFBOT_TRACKING__TRUST_FORWARDED_FOR": "true" if options.visitors > 1 else "false",
    }
    forwarded = visitor_addresses(options.visitors) if options.visitors > 1 else []
    (workdir / "none.toml").write_text("", encoding="utf-8")
    affbot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=env, stdin=asyncio.subprocess.DEVNULL
    )
    bare = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.bare",
        "--port",
        str(bare_port),
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_healthy(affbot_port, affbot)
        await wait_healthy(bare_port, bare)
        path = f"/r/{code}"
        click_ids = await collect_click_ids(affbot_port, code, options.postbacks)
        answered = len(click_ids)
        totals = {"affbot": LoadResult(), "bare": LoadResult()}
        ports = {"affbot": affbot_port, "bare": bare_port}
        for name, port in ports.items():  # warm up both (connections, caches)
            warm = await drive(
                port,
                path,
                seconds=1,
                connections=options.connections,
                forwarded_for=forwarded,
            )
            if name == "affbot":
                answered += warm.statuses[302]
        for round_number in range(options.rounds):
            order = ["affbot", "bare"] if round_number % 2 == 0 else ["bare", "affbot"]
            for name in order:
                result = await drive(
                    ports[name],
                    path,
                    seconds=options.seconds,
                    connections=options.connections,
                    forwarded_for=forwarded,
                )
                totals[name].merge(result)
                if name == "affbot":
                    answered += result.statuses[302]
        affbot_result, bare_result = totals["affbot"], totals["bare"]
        throughput = affbot_result.rate / bare_result.rate
        p99 = affbot_result.percentile(0.99) / bare_result.percentile(0.99)
        engine = "PostgreSQL" if options.postgres else "SQLite"
        print(
            f"redirect: GET /r/{{code}}, {options.connections} connections, "
            f"{options.rounds} rounds x {options.seconds:g} s per server, alternating, "
            f"affbot on {engine}, "
            + (f"{options.visitors} visitors" if options.visitors > 1 else "one visitor")
        )
        print(f"  {'server':<10} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'requests':>10}")
        print(row("affbot", affbot_result))
        print(row("bare 302", bare_result))
        print(
            f"  ratio affbot/bare: throughput {throughput:.2f} (target >= {THROUGHPUT_TARGET}),"
            f" p99 {p99:.2f} (target <= {P99_TARGET})"
        )
        unexpected = {status: n for status, n in affbot_result.statuses.items() if status != 302}

        unique = options.postbacks
        seconds, ok, failed = await send_postbacks(
            affbot_port,
            code,
            unique=unique,
            concurrency=options.postback_concurrency,
            prefix="a",
            click_ids=click_ids,
        )
        bare_seconds, _, _ = await send_postbacks(
            bare_port,
            code,
            unique=unique,
            concurrency=options.postback_concurrency,
            prefix="b",
            click_ids=click_ids,
        )
    finally:
        affbot.send_signal(signal.SIGTERM)
        bare.send_signal(signal.SIGTERM)
        affbot_exit = await asyncio.wait_for(affbot.wait(), timeout=30)
        await asyncio.wait_for(bare.wait(), timeout=30)
    clicks, conversions = await count(url)
    per_txn = conversions / unique
    print(
        f"postback: {unique} unique transactions, each sent 3 times concurrently "
        f"({options.postback_concurrency} transactions at a time)"
    )
    print(
        f"  affbot {3 * unique / seconds:.0f} postbacks/s ({ok} answered 2xx, {failed} not); "
        f"bare 200 {3 * unique / bare_seconds:.0f} postbacks/s"
    )
    print(f"  stored conversions per unique transaction: {per_txn:.3f} (target 1.000)")
    print(
        f"clicks: {clicks} stored after a graceful stop (exit {affbot_exit}), "
        f"{answered} redirects answered"
    )
    checks = {
        "throughput ratio": throughput >= THROUGHPUT_TARGET,
        "p99 ratio": p99 <= P99_TARGET,
        "every click stored": clicks == answered and not unexpected,
        "one conversion per transaction": conversions == unique and failed == 0,
    }
    for name, passed in checks.items():
        print(f"  {'PASS' if passed else 'FAIL'} {name}")
    return 0 if all(checks.values()) else 1
