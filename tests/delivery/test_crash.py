"""SIGKILL mid-broadcast: a real dispatcher process is killed, restarted, and finishes.

The fake platform runs in this test process over a real socket and counts deliveries by
dedupe key, so what the killed process sent is known even though it never recorded it.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from commands.core.reply import Reply
from storage import Database
from storage.migrate import upgrade
from storage.outbox import OutgoingMessage
from tests.fakes.fanout_platform import PLATFORM, FakePlatform
from tests.processes import ROOT

MESSAGES = 600
RATE = 400.0
CONCURRENCY = 8
MARK_BATCH = 20  # DispatchSettings default: deliveries recorded per statement


async def start_worker(database_url: str, platform_url: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.dispatch_worker",
        database_url,
        platform_url,
        "--rate",
        str(RATE),
        "--concurrency",
        str(CONCURRENCY),
        "--lease",
        "1.0",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_sigkill_mid_broadcast_loses_nothing_and_resends_only_in_flight(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    database = Database.connect(url)
    now = datetime.now(UTC)
    try:
        await upgrade(database)
        async with database.transaction() as store:
            await store.outbox.enqueue(
                (
                    OutgoingMessage(
                        f"crash:{n}", PLATFORM, "user", str(n), Reply(text=f"#{n}").to_json()
                    )
                    for n in range(MESSAGES)
                ),
                now=now,
            )
    finally:
        await database.close()
    platform = FakePlatform(rate=RATE * 1.25, burst=20)
    await platform.start()
    try:
        first = await start_worker(url, platform.url)
        async with asyncio.timeout(30):
            while platform.delivered < MESSAGES // 2:
                assert first.returncode is None, await first.stderr.read()  # type: ignore[union-attr]
                await asyncio.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        assert first.returncode == -signal.SIGKILL
        at_kill = platform.delivered
        assert at_kill < MESSAGES  # really killed mid-broadcast

        second = await start_worker(url, platform.url)
        async with asyncio.timeout(60):
            out, err = await second.communicate()
        assert second.returncode == 0, err.decode()
        counters = json.loads(out.decode().strip().splitlines()[-1])
    finally:
        await platform.close()

    missing = [n for n in range(MESSAGES) if platform.received[f"crash:{n}"] == 0]
    assert missing == []
    # Only what was in flight at the kill comes twice: being sent, or sent but not yet
    # recorded (one mark batch plus what the workers finished during that flush).
    assert platform.duplicates <= CONCURRENCY + 2 * MARK_BATCH
    assert counters["sent"] == MESSAGES - at_kill + platform.duplicates

    database = Database.connect(url)
    try:
        async with database.read() as store:
            counts = await store.outbox.counts()
    finally:
        await database.close()
    assert (counts.sent, counts.queued, counts.sending, counts.failed) == (MESSAGES, 0, 0, 0)
