"""A bounded soak on loopback: redirects, postbacks, commands and a broadcast at once.

Afterwards every click counted is stored once, every accepted conversion is stored once
with its status event, and every queued message was delivered once. CI runs the short
mode (a few seconds); ``AFFBOT_SOAK_SECONDS=180`` runs the full mode documented in
docs/RELIABILITY.md. Traffic goes only to 127.0.0.1 on an ephemeral port, in loops
bounded by both time and count.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.adapters.console import ConsoleAdapter
from bot.adapters.console_delivery import ConsoleSender
from bot.app import open_core, start_background
from bot.config import TrackingConfig, load_config
from bot.web import build_web_app
from commands.core.invocation import Actor, ChatKind
from storage.schema import clicks, conversion_events, conversions
from tests.tracking_support import Seeded, seed

SECONDS = float(os.environ.get("AFFBOT_SOAK_SECONDS", "3"))
MAX_REQUESTS_PER_WORKER = 20_000  # a hard bound on top of the time limit
AFFILIATES = 5
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36"


@dataclass
class Tally:
    redirects: int = 0
    postbacks_sent: int = 0
    accepted: set[str] = field(default_factory=set)
    duplicates: int = 0
    commands: int = 0
    errors: list[str] = field(default_factory=list)


async def test_soak_loses_and_doubles_nothing(tmp_path: Path) -> None:
    config = load_config(
        environ={
            "AFFBOT_DATABASE__URL": f"sqlite:///{tmp_path / 'soak.db'}",
            "AFFBOT_DELIVERY__POLL_SECONDS": "0.05",
            "AFFBOT_DELIVERY__CONSOLE__RATE_PER_SECOND": "1000",
            "AFFBOT_DELIVERY__CONSOLE__BURST": "100",
        }
    )
    tracking = TrackingConfig(
        click_batch_size=200,
        click_flush_seconds=0.2,
        redirects_per_minute=0,  # one loopback address sends everything
        postbacks_per_minute=0,
    )
    out = io.StringIO()
    tally = Tally()
    click_ids: asyncio.Queue[str] = asyncio.Queue()
    async with open_core(config) as core:
        seeded = [await seed(core.database, user=f"a{n}") for n in range(AFFILIATES)]
        adapter = ConsoleAdapter(
            core.dispatcher, user="boss", manager=True, stdin=io.StringIO(""), stdout=out
        )
        background = await start_background(
            core, [ConsoleSender(adapter.render, stdout=out)], console_user="boss"
        )
        client: TestClient[Any, Any] = TestClient(
            TestServer(
                build_web_app(core.services, tracking, core.rules), host="127.0.0.1", port=0
            )
        )
        await client.start_server()
        deadline = time.monotonic() + SECONDS
        try:
            boss = Actor("console", "boss", "Boss", is_manager=True)
            announced = await core.dispatcher.execute_line(
                "/announce Soak test: thanks for riding along --dm", boss, ChatKind.PRIVATE
            )
            assert "something went wrong" not in announced[0].text
            workers = [_redirects(client, link, click_ids, tally, deadline) for link in seeded]
            workers += [_postbacks(client, click_ids, tally, deadline, n) for n in range(3)]
            workers.append(_commands(core.dispatcher, tally, deadline))
            await asyncio.gather(*workers)
        finally:
            await client.close()  # flushes the click buffer
        async with asyncio.timeout(30):
            while (await _outbox(core)).queued:  # noqa: ASYNC110 - the console writes to a StringIO
                await asyncio.sleep(0.05)
        await background.stop()
        stored = await _stored(core)
        counts = await _outbox(core)
    assert tally.errors == []
    assert tally.redirects > 0
    assert tally.accepted
    assert stored["clicks"] == tally.redirects
    assert stored["conversions"] == len(tally.accepted)
    assert stored["with_event"] == stored["conversions"]
    assert counts.failed == 0
    assert counts.sent == out.getvalue().count("-- message to") >= AFFILIATES
    # Besides the announcement, each affiliate whose link was clicked gets one first-click
    # badge message (never two).
    badges = out.getvalue().count("You earned the first-click badge")
    assert 0 < badges <= AFFILIATES
    assert out.getvalue().count("Soak test: thanks for riding along") + badges == counts.sent
    print(
        f"\nsoak {SECONDS:.0f}s: redirects {tally.redirects}, clicks stored {stored['clicks']}, "
        f"postbacks {tally.postbacks_sent} (accepted {len(tally.accepted)}, duplicates "
        f"{tally.duplicates}), conversions stored {stored['conversions']}, commands "
        f"{tally.commands}, messages delivered {counts.sent}, lost 0"
    )


async def _redirects(
    client: TestClient[Any, Any],
    seeded: Seeded,
    click_ids: asyncio.Queue[str],
    tally: Tally,
    deadline: float,
) -> None:
    for _ in range(MAX_REQUESTS_PER_WORKER):
        if time.monotonic() > deadline:
            return
        response = await client.get(
            f"/r/{seeded.link.code}", allow_redirects=False, headers={"User-Agent": BROWSER}
        )
        if response.status != 302:
            tally.errors.append(f"redirect {response.status}")
            return
        tally.redirects += 1
        query = parse_qs(urlsplit(response.headers["Location"]).query)
        if tally.redirects % 3 == 0:
            click_ids.put_nowait(query["click_id"][0])
        await asyncio.sleep(0.002)  # visitors, not a tight loop: leave the loop to the rest


async def _postbacks(
    client: TestClient[Any, Any],
    click_ids: asyncio.Queue[str],
    tally: Tally,
    deadline: float,
    worker: int,
) -> None:
    for serial in itertools.islice(itertools.count(), MAX_REQUESTS_PER_WORKER):
        if time.monotonic() > deadline:
            return
        try:
            click_id = await asyncio.wait_for(click_ids.get(), timeout=0.2)
        except TimeoutError:
            continue
        txn = f"S-{worker}-{serial}"
        for _ in range(2 if serial % 5 == 0 else 1):  # every fifth is retried by the network
            response = await client.get(
                "/postback",
                params={"token": "s3cret", "click_id": click_id, "txn_id": txn, "amount": "9.99"},
            )
            tally.postbacks_sent += 1
            body = await response.json()
            if response.status != 200:
                tally.errors.append(f"postback {response.status}: {body}")
                return
            if body.get("duplicate"):
                tally.duplicates += 1
            else:
                tally.accepted.add(txn)


async def _commands(dispatcher: Any, tally: Tally, deadline: float) -> None:
    lines = itertools.cycle(["/stats", "/link shop", "/earnings", "/leaderboard", "/programs"])
    for serial in range(MAX_REQUESTS_PER_WORKER):
        if time.monotonic() > deadline:
            return
        actor = Actor("console", f"a{serial % AFFILIATES}", "A")
        replies = await dispatcher.execute_line(next(lines), actor, ChatKind.PRIVATE)
        if any("something went wrong" in reply.text for reply in replies):
            tally.errors.append(f"command: {replies[0].text}")
            return
        tally.commands += 1
        await asyncio.sleep(0.01)


async def _stored(core: Any) -> dict[str, int]:
    async with core.database.read() as store:
        run = store.connection.execute
        return {
            "clicks": int((await run(select(func.count()).select_from(clicks))).scalar_one()),
            "conversions": int(
                (await run(select(func.count()).select_from(conversions))).scalar_one()
            ),
            "with_event": int(
                (
                    await run(select(func.count(func.distinct(conversion_events.c.conversion_id))))
                ).scalar_one()
            ),
        }


async def _outbox(core: Any) -> Any:
    async with core.database.read() as store:
        return await store.outbox.counts()
