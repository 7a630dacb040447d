"""A dispatcher process for crash tests and the benchmark.

``python -m tests.fakes.dispatch_worker DB_URL PLATFORM_URL`` delivers the outbox's
``fake`` rows to a :class:`FakePlatform` until none are left queued or in flight (waiting
out the leases a killed predecessor left behind), then prints its counters as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from dataclasses import asdict
from datetime import timedelta

from bot.delivery.dispatcher import DispatchSettings, OutboxDispatcher
from bot.delivery.pacing import Limits
from storage import Database
from tests.fakes.fanout_platform import FakePlatformSender


async def main(args: argparse.Namespace) -> None:
    database = Database.connect(args.database)
    sender = FakePlatformSender(args.platform)
    dispatcher = OutboxDispatcher(
        database,
        sender,
        Limits(rate=args.rate, burst=1),
        settings=DispatchSettings(
            concurrency=args.concurrency,
            lease=timedelta(seconds=args.lease),
            lease_margin=timedelta(seconds=args.lease / 4),
            poll_interval=0.1,
        ),
    )
    try:
        while True:
            await dispatcher.run(until_idle=True)
            async with database.read() as store:
                counts = await store.outbox.counts()
            if counts.queued + counts.sending == 0:
                break
            await asyncio.sleep(0.1)
    finally:
        await sender.close()
        await database.close()
    counters = asdict(dispatcher.counters)
    print(json.dumps(counters), flush=True)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("database")
    parser.add_argument("platform")
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--lease", type=float, default=2.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(main(parse(sys.argv[1:])))
