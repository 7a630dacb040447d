"""A dispatcher process for crash tests and the benchmark.

``python -m tests.fakes.dispatch_worker DB_URL PLATFORM_URL`` delivers the outbox's
``fake`` rows to a :class:`FakePlatform` until none are left queued or in flight (waiting
out the leases a killed predecessor left behind) and at least ``--expect`` rows are
finished, then prints its counters as JSON. With ``--serve-web`` it also serves the
tracking server on the same event loop (and prints ``web PORT``), as ``affbot run`` did
before ``affbot deliver``, so the benchmark can measure redirect latency while a broadcast
is going out. With ``--serve-web-only`` it serves the tracking server alone (no
dispatcher) until SIGTERM or end of stdin: the layout ``affbot run`` uses by default, the
web in one process and delivery in another.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.config import TrackingConfig
from bot.delivery.dispatcher import DispatchSettings, OutboxDispatcher
from bot.delivery.pacing import Limits
from bot.priority import run_as_background
from bot.web import build_web_app
from commands.core import catalog
from commands.core.invocation import Services, Settings
from storage import Database
from tests.fakes.fanout_platform import FakePlatformSender


async def serve_web(database: Database) -> web.AppRunner:
    services = Services(
        database=database,
        settings=Settings(public_base_url="http://127.0.0.1", timezone=ZoneInfo("UTC")),
        clock=lambda: datetime.now(UTC),
        registry=catalog.load(),
    )
    # Every probe request comes from 127.0.0.1, far above a real visitor's rate: the
    # per-address redirect limit is off here, as in the redirect benchmark. Clicks are
    # written in this process ("inline"): the measurement is about this loop alone.
    config = TrackingConfig(redirects_per_minute=0, click_writer="inline")
    runner = web.AppRunner(build_web_app(services, config), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"web {port}", flush=True)
    return runner


async def web_only(args: argparse.Namespace) -> None:
    """Serve the tracking server until SIGTERM/SIGINT or until stdin closes."""
    database = Database.connect(args.database, schema=args.schema)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner = await serve_web(database)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    eof = asyncio.create_task(reader.read())  # the benchmark is gone: stop too
    eof.add_done_callback(lambda _: stop.set())
    try:
        await stop.wait()
    finally:
        eof.cancel()
        await runner.cleanup()
        await database.close()


async def main(args: argparse.Namespace) -> None:
    if args.serve_web_only:
        await web_only(args)
        return
    if not args.serve_web:
        run_as_background()  # as `affbot deliver`, the dispatcher it stands in for, does
    database = Database.connect(args.database, schema=args.schema)
    sender = FakePlatformSender(args.platform)
    runner = await serve_web(database) if args.serve_web else None
    dispatcher = OutboxDispatcher(
        database,
        sender,
        Limits(rate=args.rate, burst=1),
        settings=DispatchSettings(
            concurrency=args.concurrency,
            lease=timedelta(seconds=args.lease),
            lease_margin=timedelta(seconds=args.lease / 4),
            poll_interval=0.05,
        ),
    )
    running = asyncio.create_task(dispatcher.run())
    try:
        while True:
            await asyncio.sleep(0.5)  # rarely: this check shares the loop being measured
            async with database.read() as store:
                counts = await store.outbox.counts(args.broadcast)
            finished = counts.sent + counts.failed + counts.skipped
            if counts.queued + counts.sending == 0 and finished >= args.expect:
                break
    finally:
        dispatcher.stop()
        await running
        await sender.close()
        if runner is not None:
            await runner.cleanup()
        await database.close()
    print(json.dumps(asdict(dispatcher.counters)), flush=True)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("database")
    parser.add_argument("platform")
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--expect", type=int, default=0)
    parser.add_argument("--serve-web", action="store_true")
    parser.add_argument("--serve-web-only", action="store_true")
    parser.add_argument(
        "--broadcast",
        help="wait only for this broadcast (other rows, such as a badge note the probe's "
        "first click queues for another platform, are not this worker's to finish)",
    )
    parser.add_argument("--schema", help="PostgreSQL schema (tests run in their own)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(main(parse(sys.argv[1:])))
