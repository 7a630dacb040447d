"""``python -m bench writer``: the click writer's CPU per click against the bare database.

The redirect benchmark's ratios move by ±0.05 from run to run on two shared cores, which
hides changes to the click writer child, whose CPU competes with the server's. This one
measures that pipeline on its own and steadily: the batches the child receives
(``marshal``-decoded visit rows) go through ``BatchWriter.write`` (hashing, the clicks'
insert, fraud counters, first-click badges), and, as the baseline in the same run, the
same clicks already hashed go into a database with the same schema as plain multi-row
``INSERT`` statements through Python's ``sqlite3``, one transaction per batch: what
storing them costs with nothing of affbot's around it. Rounds alternate, each on fresh
databases, and the CPU time is the process's (the aiosqlite thread included).

With ``--postgres URL`` both sides write to fresh databases on that server and the
baseline is asyncpg's binary ``COPY``; the CPU figures are then this process's alone
(PostgreSQL's own work shows only in the wall time).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import marshal
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.redirect import fresh_database, seed
from bot.web.click_batches import BatchWriter, visit_row
from bot.web.visitors import hash_ip, hash_network
from commands.fraud.rules import FraudRules
from storage import Database
from storage.clicks import new_click_id, time_of

SALT = "bench-salt-0123456789abcdef"
COLUMNS = "click_id, link_id, occurred_at, ip_hash, user_agent_family, referer_host, "
COLUMNS += "hour_bucket, net_hash"
CHUNK = 100


@dataclass
class Totals:
    cpu: float = 0.0
    wall: float = 0.0
    clicks: int = 0

    @contextlib.contextmanager
    def measuring(self, clicks: int) -> Iterator[None]:
        """Add the CPU and wall time of the block, for ``clicks`` clicks."""
        cpu, wall = time.process_time(), time.perf_counter()
        yield
        self.cpu += time.process_time() - cpu
        self.wall += time.perf_counter() - wall
        self.clicks += clicks

    def checked(self, stored: int, who: str) -> Totals:
        """These totals, once the database holds every click they counted."""
        if stored != self.clicks:
            raise RuntimeError(f"{who} stored {stored} of {self.clicks} clicks")
        return self

    def per_click(self) -> tuple[float, float]:
        """CPU and wall microseconds per click."""
        return self.cpu * 1e6 / self.clicks, self.wall * 1e6 / self.clicks


def make_batches(link_id: int, batches: int, size: int, visitors: int) -> list[bytes]:
    """Marshal frames of visit rows, as the server sends them, one second apart.

    Each batch has ``visitors`` new visitors clicking in turn, spread over /24 networks
    the way real traffic is: an ordinary busy link, which raises no fraud flag (the
    flood of one address is the redirect benchmark's case).
    """
    start = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    frames = []
    for number in range(batches):
        at = start + timedelta(seconds=number)
        rows = []
        for index in range(size):
            visitor = number * visitors + index % visitors
            address = f"10.{visitor >> 16 & 255}.{visitor & 255}.{(visitor >> 8 & 255) + 1}"
            rows.append(
                visit_row(
                    new_click_id(),
                    link_id,
                    at + timedelta(microseconds=index * 37),
                    address,
                    "chrome",
                    None,
                )
            )
        frames.append(marshal.dumps(rows))
    return frames


async def affbot_round(url: str, frames: list[bytes]) -> Totals:
    await seed(url)
    database = Database.connect(url)
    writer = BatchWriter(database, fraud=FraudRules(), salt=SALT)
    totals = Totals()
    try:
        for frame in frames:
            rows = marshal.loads(frame)  # noqa: S302 - frames this process just made
            with totals.measuring(len(rows)):
                await writer.write(rows)
        async with database.read() as store:
            stored = await store.clicks.count()
    finally:
        await database.close()
    return totals.checked(stored, "affbot")


async def bare_round(url: str, frames: list[bytes]) -> Totals:
    """The same clicks, hashed beforehand (hashing is affbot's work), stored bare: plain
    ``sqlite3`` multi-row inserts, or asyncpg's ``COPY`` on PostgreSQL."""
    await seed(url)  # the same schema, migrations included
    postgres = url.startswith("postgresql")
    hashed = [_hashed(marshal.loads(frame), text=not postgres) for frame in frames]  # noqa: S302
    if postgres:
        return await _copy(url, hashed)
    return _insert_sqlite(url.removeprefix("sqlite:///"), hashed)


def _insert_sqlite(path: str, hashed: list[list[tuple[object, ...]]]) -> Totals:
    connection = sqlite3.connect(path, isolation_level=None)
    totals = Totals()
    try:
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            connection.execute(f"PRAGMA {pragma}")
        for rows in hashed:
            with totals.measuring(len(rows)):
                connection.execute("BEGIN IMMEDIATE")
                for start in range(0, len(rows), CHUNK):
                    chunk = rows[start : start + CHUNK]
                    connection.execute(_insert(len(chunk)), [v for row in chunk for v in row])
                connection.execute("COMMIT")
        stored = connection.execute("SELECT count(*) FROM clicks").fetchone()[0]
    finally:
        connection.close()
    return totals.checked(stored, "the baseline")


async def _copy(url: str, hashed: list[list[tuple[object, ...]]]) -> Totals:
    """asyncpg's binary ``COPY``, each batch in a transaction of its own."""
    database = Database.connect(url)
    columns = [name.strip() for name in COLUMNS.split(",")]
    totals = Totals()
    try:
        for rows in hashed:
            with totals.measuring(len(rows)):
                async with database.writing() as connection:
                    driver = (await connection.get_raw_connection()).driver_connection
                    assert driver is not None
                    await driver.copy_records_to_table("clicks", records=rows, columns=columns)
        async with database.read() as store:
            stored = await store.clicks.count()
    finally:
        await database.close()
    return totals.checked(stored, "the baseline")


def _hashed(rows: Sequence[Sequence[Any]], *, text: bool) -> list[tuple[object, ...]]:
    """Rows as the engine stores them: SQLite's time text, or an aware ``datetime``."""
    values: list[tuple[object, ...]] = []
    for click_id, link_id, micros, _, address, agent, referer, _ in rows:
        at = time_of(micros)
        values.append(
            (
                click_id,
                link_id,
                at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
                if text
                else at,
                hash_ip(SALT, address),
                agent,
                referer,
                micros // 3_600_000_000,
                hash_network(SALT, address),
            )
        )
    return values


def _insert(rows: int) -> str:
    row = "(" + ", ".join("?" * 8) + ")"
    return f"INSERT INTO clicks ({COLUMNS}) VALUES " + ", ".join([row] * rows)  # noqa: S608


async def run(rounds: int, batches: int, size: int, visitors: int, postgres: str | None) -> int:
    totals = {"affbot": Totals(), "bare": Totals()}
    for number in range(rounds):
        workdir = Path(tempfile.mkdtemp(prefix="affbot-bench-writer-"))
        frames = make_batches(1, batches, size, visitors)  # the seeded link is id 1
        order = ["affbot", "bare"] if number % 2 == 0 else ["bare", "affbot"]
        for name in order:
            (workdir / name).mkdir()
            async with fresh_database(workdir / name, postgres) as url:
                if name == "affbot":
                    result = await affbot_round(url, frames)
                else:
                    result = await bare_round(url, frames)
            totals[name].cpu += result.cpu
            totals[name].wall += result.wall
            totals[name].clicks += result.clicks
    affbot_cpu, affbot_wall = totals["affbot"].per_click()
    bare_cpu, bare_wall = totals["bare"].per_click()
    engine = "PostgreSQL (CPU: this process only)" if postgres else "SQLite"
    bare = "bare asyncpg COPY" if postgres else "bare sqlite3 insert"
    print(
        f"click writer: {rounds} rounds x {batches} batches of {size} clicks, "
        f"{visitors} visitors per batch, {engine}"
    )
    print(f"  {'writer':<24} {'CPU µs/click':>13} {'wall µs/click':>14}")
    print(f"  {'affbot BatchWriter':<24} {affbot_cpu:>13.2f} {affbot_wall:>14.2f}")
    print(f"  {bare:<24} {bare_cpu:>13.2f} {bare_wall:>14.2f}")
    print(
        f"  ratio affbot/bare: CPU {affbot_cpu / bare_cpu:.2f}, wall {affbot_wall / bare_wall:.2f}"
    )
    print(f"  every click stored: {totals['affbot'].clicks} by each")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench writer", description=__doc__)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--batches", type=int, default=20, help="per round")
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--visitors", type=int, default=1000, help="new ones per batch")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="write to fresh PostgreSQL databases on this server (made and dropped)",
    )
    args = parser.parse_args(argv)
    return asyncio.run(
        run(args.rounds, args.batches, args.batch_size, args.visitors, args.postgres)
    )
