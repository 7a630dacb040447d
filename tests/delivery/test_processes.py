"""Two dispatcher processes on one database deliver every message exactly once.

Real processes, not two objects in one: on PostgreSQL their claims meet in
``FOR UPDATE SKIP LOCKED``, on SQLite in ``BEGIN IMMEDIATE`` on the same file.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime

from commands.core.reply import Reply
from storage import Database
from storage.outbox import OutgoingMessage
from tests.conftest import PG_URL
from tests.fakes.fanout_platform import PLATFORM, FakePlatform
from tests.processes import ROOT

MESSAGES = 1200


async def where(database: Database) -> list[str]:
    """The URL (and PostgreSQL schema) a separate process needs to reach ``database``."""
    if database.dialect == "sqlite":
        return [f"sqlite:///{database.engine.url.database}"]
    async with database.engine.connect() as connection:
        schema = (await connection.exec_driver_sql("SHOW search_path")).scalar_one()
    assert PG_URL is not None
    return [PG_URL, "--schema", str(schema).strip('"')]


async def test_two_processes_deliver_each_message_once(database: Database) -> None:
    async with database.transaction() as store:
        await store.outbox.enqueue(
            (
                OutgoingMessage(f"two:{n}", PLATFORM, "user", str(n), Reply(text="hi").to_json())
                for n in range(MESSAGES)
            ),
            now=datetime.now(UTC),
        )
    target = await where(database)
    platform = FakePlatform(rate=10_000, burst=1_000)
    await platform.start()
    try:
        workers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.fakes.dispatch_worker",
                target[0],
                platform.url,
                *target[1:],
                "--rate",
                "400",
                "--concurrency",
                "4",
                "--expect",
                str(MESSAGES),
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(2)
        ]
        async with asyncio.timeout(60):
            outputs = [await worker.communicate() for worker in workers]
    finally:
        await platform.close()
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err.decode()
    sent = [json.loads(out.decode().splitlines()[-1])["sent"] for out, _ in outputs]
    assert len(platform.received) == MESSAGES
    assert platform.duplicates == 0
    assert sum(sent) == MESSAGES
    assert min(sent) > 0, sent  # both took part
    async with database.read() as store:
        counts = await store.outbox.counts()
    assert counts.sent == MESSAGES
