"""``python -m bench backup``: how long ``affbot db backup`` takes while the bot is busy.

1. Seeds a fresh SQLite database (the redirect benchmark's program and link) and fills it
   to ``--megabytes`` with old clicks written by bulk SQL (a recursive CTE, not requests),
   so a gigabyte takes minutes to build, not hours.
2. Starts ``affbot run`` on it and keeps a steady load on it: ``--redirects`` per second on
   ``/r/{code}`` and ``--postbacks`` per second on ``/postback`` (the load of issue 17).
3. After a few seconds of load, runs the real ``affbot db backup`` (a subprocess, with
   ``--timeout``) and times it, then checks the backup opens and holds the filled clicks.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

from bench.redirect import BROWSER, TOKEN, free_port, seed, wait_healthy

_ROWS_PER_STATEMENT = 200_000
_WARM_UP_SECONDS = 3.0


@dataclass(frozen=True)
class Options:
    megabytes: int
    redirects: float
    postbacks: float
    timeout: float
    workdir: Path | None


def fill_clicks(path: Path, megabytes: int, *, progress: bool = False) -> int:
    """Add old clicks to the SQLite file at ``path`` until it holds ``megabytes`` MB.

    Rows go to the first link with sequential click ids (a sorted unique index fills
    fastest); returns how many were added.
    """
    target = megabytes * 1_000_000
    added = 0
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA cache_size = -262144")  # 256 MiB: index pages stay hot
        link_id, first = connection.execute(
            "SELECT (SELECT min(id) FROM links), coalesce((SELECT max(id) FROM clicks), 0)"
        ).fetchone()
        while path.stat().st_size < target:
            start = first + added
            connection.execute(
                """
                WITH RECURSIVE n(i) AS (
                    SELECT :start + 1 UNION ALL SELECT i + 1 FROM n WHERE i < :end
                )
                INSERT INTO clicks (click_id, link_id, occurred_at, ip_hash,
                                    user_agent_family, referer_host, hour_bucket, net_hash)
                SELECT printf('bulk%028d', i), :link,
                       datetime(1700000000 + i, 'unixepoch'),
                       lower(hex(randomblob(32))), 'chrome', 'news.example',
                       (1700000000 + i) / 3600, lower(hex(randomblob(32)))
                FROM n
                """,
                {"start": start, "end": start + _ROWS_PER_STATEMENT, "link": link_id},
            )
            connection.commit()
            added += _ROWS_PER_STATEMENT
            if progress:
                print(f"  filled {path.stat().st_size / 1e6:.0f} MB", file=sys.stderr)
    return added


async def _paced(
    session: aiohttp.ClientSession, urls: list[str], rate: float, stop: asyncio.Event
) -> Counter[int]:
    """GET the urls in turn at ``rate`` per second (open loop, as visitors arrive)."""
    statuses: Counter[int] = Counter()
    pending: set[asyncio.Task[None]] = set()

    async def one(url: str) -> None:
        try:
            async with session.get(url, allow_redirects=False) as response:
                await response.read()
                statuses[response.status] += 1
        except aiohttp.ClientError:
            statuses[0] += 1

    started = time.perf_counter()
    sent = 0
    while not stop.is_set():
        due = started + sent / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        task = asyncio.create_task(one(urls[sent % len(urls)]))
        pending.add(task)
        task.add_done_callback(pending.discard)
        sent += 1
    await asyncio.gather(*pending)
    return statuses


async def _backup_under_load(options: Options, workdir: Path) -> int:
    database = workdir / "bench.db"
    url = f"sqlite:///{database}"
    code = await seed(url)
    built = time.perf_counter()
    rows = fill_clicks(database, options.megabytes, progress=True)
    size = database.stat().st_size
    print(f"built {size / 1e6:.0f} MB ({rows} bulk clicks) in {time.perf_counter() - built:.0f} s")
    port = free_port()
    (workdir / "none.toml").write_text("", encoding="utf-8")
    env = {
        **os.environ,
        "AFFBOT_DATABASE__URL": url,
        "AFFBOT_WEB__PORT": str(port),
        "AFFBOT_LOGGING__LEVEL": "WARNING",
        "AFFBOT_TRACKING__REDIRECTS_PER_MINUTE": "0",
        "AFFBOT_TRACKING__POSTBACKS_PER_MINUTE": "0",
        # The postbacks carry no click id; a fraud flag for each would only add noise.
        "AFFBOT_FRAUD__FLAG_WITHOUT_CLICK": "false",
        "AFFBOT_CONFIG": str(workdir / "none.toml"),
    }
    affbot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=env, stdin=asyncio.subprocess.DEVNULL
    )
    stop = asyncio.Event()
    base = f"http://127.0.0.1:{port}"
    postbacks = [
        f"{base}/postback?"
        + urlencode(
            {"program": "bench", "token": TOKEN, "code": code, "txn_id": f"bk-{n}", "amount": "9"}
        )
        for n in range(100_000)
    ]
    try:
        await wait_healthy(port, affbot)
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(
            connector=connector, headers={"User-Agent": BROWSER}
        ) as session:
            load = [
                asyncio.create_task(
                    _paced(session, [f"{base}/r/{code}"], options.redirects, stop)
                ),
                asyncio.create_task(_paced(session, postbacks, options.postbacks, stop)),
            ]
            await asyncio.sleep(_WARM_UP_SECONDS)
            copy = workdir / "backup.db"
            started = time.perf_counter()
            backup = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "db",
                "backup",
                "--timeout",
                f"{options.timeout:g}",
                str(copy),
                env=env,
            )
            exit_code = await backup.wait()
            seconds = time.perf_counter() - started
            stop.set()
            redirects, posted = await asyncio.gather(*load)
    finally:
        affbot.send_signal(signal.SIGTERM)
        await asyncio.wait_for(affbot.wait(), timeout=60)
    loaded = seconds + _WARM_UP_SECONDS
    print(
        f"backup of {size / 1e6:.0f} MB under {options.redirects:g} redirects/s and "
        f"{options.postbacks:g} postbacks/s: exit {exit_code} in {seconds:.1f} s"
    )
    print(
        f"  load while it ran: {sum(redirects.values()) / loaded:.0f} redirects/s "
        f"{dict(redirects)}, {sum(posted.values()) / loaded:.1f} postbacks/s {dict(posted)}"
    )
    if exit_code != 0:
        return 1
    with sqlite3.connect(f"file:{copy}?mode=ro", uri=True) as connection:
        (clicks,) = connection.execute("SELECT count(*) FROM clicks").fetchone()
    print(f"  the backup opens: {clicks} clicks, {copy.stat().st_size / 1e6:.0f} MB")
    return 0 if clicks >= rows else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench backup", description=__doc__)
    parser.add_argument("--megabytes", type=int, default=1000, help="database size to build")
    parser.add_argument("--redirects", type=float, default=200.0, help="redirects per second")
    parser.add_argument("--postbacks", type=float, default=10.0, help="postbacks per second")
    parser.add_argument("--timeout", type=float, default=600.0, help="the backup's --timeout")
    parser.add_argument("--workdir", type=Path, help="where to build (default: a temp dir)")
    args = parser.parse_args(argv)
    options = Options(args.megabytes, args.redirects, args.postbacks, args.timeout, args.workdir)
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="affbot-backup-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_backup_under_load(options, workdir))
