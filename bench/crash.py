"""``python -m bench crash``: how old is the oldest click a kill -9 loses?

Clicks are buffered in memory and written in batches, so a process killed without warning
loses the clicks it answered but had not committed yet. The tracking server promises that
window is at most ``tracking.click_flush_seconds`` (1 s by default). Per run this script:

1. starts ``affbot run`` in its own process group (the server and its click writer child),
   on one SQLite file, or one fresh PostgreSQL database, shared by all runs;
2. drives ``GET /r/{code}`` over ``--connections`` keep-alive connections with a browser
   user agent, noting each answered click id and when its answer arrived;
3. after a random 2-4 s of load, kills the whole process group with SIGKILL;
4. reads which click ids were stored: the lost ones are answered and not stored, and the
   run's window is the time between the oldest lost answer and the kill.

It prints each run and the maximum, and exits 0 only when every window is within
``click_flush_seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from bench.redirect import BROWSER, free_port, fresh_database, seed, wait_healthy
from storage import Database
from storage.schema import clicks

FLUSH_SECONDS = 1.0  # affbot's default tracking.click_flush_seconds


@dataclass(frozen=True)
class Run:
    answered: int
    lost: int
    window: float  # seconds from the oldest lost answer to the kill (0 when none lost)


async def _visitor(port: int, code: str, answered: dict[str, float], stop: asyncio.Event) -> None:
    """One keep-alive connection sending redirects until the server dies."""
    request = (
        f"GET /r/{code} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {BROWSER}\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while not stop.is_set():
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            arrived = time.monotonic()
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                name = name.lower()
                if name == b"location":
                    click_id = value.strip().rsplit(b"click_id=", 1)[1].split(b"&")[0]
                    answered[click_id.decode()] = arrived
                elif name == b"content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
    except (ConnectionError, asyncio.IncompleteReadError):
        return  # killed: the point of the exercise
    finally:
        writer.close()


async def stored(url: str) -> set[str]:
    database = Database.connect(url)
    try:
        async with database.read() as store:
            return set((await store.connection.execute(select(clicks.c.click_id))).scalars())
    finally:
        await database.close()


async def one_run(url: str, code: str, connections: int, workdir: Path) -> Run:
    port = free_port()
    env = {
        **os.environ,
        "AFFBOT_DATABASE__URL": url,
        "AFFBOT_WEB__PORT": str(port),
        "AFFBOT_LOGGING__LEVEL": "WARNING",
        "AFFBOT_TRACKING__REDIRECTS_PER_MINUTE": "0",
        "AFFBOT_CONFIG": str(workdir / "none.toml"),
    }
    affbot = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        start_new_session=True,  # its own process group, click writer child included
    )
    answered: dict[str, float] = {}
    stop = asyncio.Event()
    try:
        await wait_healthy(port, affbot)
        visitors = [
            asyncio.create_task(_visitor(port, code, answered, stop)) for _ in range(connections)
        ]
        await asyncio.sleep(random.uniform(2.0, 4.0))
        os.killpg(affbot.pid, signal.SIGKILL)
        killed = time.monotonic()
        stop.set()
        await asyncio.gather(*visitors, return_exceptions=True)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(affbot.pid, signal.SIGKILL)
        await affbot.wait()
    kept = await stored(url)
    lost = [at for click_id, at in answered.items() if click_id not in kept]
    return Run(len(answered), len(lost), killed - min(lost) if lost else 0.0)


async def run(runs: int, connections: int, postgres: str | None) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="affbot-crash-"))
    (workdir / "none.toml").write_text("", encoding="utf-8")
    engine = "PostgreSQL" if postgres else "SQLite"
    results: list[Run] = []
    async with fresh_database(workdir, postgres) as url:
        code = await seed(url)
        for number in range(1, runs + 1):
            result = await one_run(url, code, connections, workdir)
            results.append(result)
            print(
                f"  {engine} run {number:>2}: {result.answered:>6} answered, "
                f"{result.lost:>5} lost, oldest lost answered {result.window:.3f} s "
                "before the kill",
                flush=True,
            )
    worst = max(results, key=lambda result: result.window)
    print(
        f"crash: {engine}, {runs} runs, {connections} connections: max loss window "
        f"{worst.window:.3f} s ({worst.lost} clicks), "
        f"max lost {max(result.lost for result in results)} clicks; "
        f"target <= {FLUSH_SECONDS:g} s"
    )
    passed = worst.window <= FLUSH_SECONDS
    print(f"  {'PASS' if passed else 'FAIL'} loss window within click_flush_seconds")
    return 0 if passed else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench crash", description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="a PostgreSQL server URL; a fresh database is made for the runs and dropped",
    )
    args = parser.parse_args(argv)
    return asyncio.run(run(args.runs, args.connections, args.postgres))
