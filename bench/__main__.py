"""``python -m bench redirect [--seconds S] [--rounds N] [--connections C] [--postbacks P]``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bench.redirect import Options, run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    redirect = commands.add_parser(
        "redirect", help="tracking server vs a bare aiohttp app: redirects and postbacks"
    )
    redirect.add_argument("--seconds", type=float, default=2.0, help="per server per round")
    redirect.add_argument("--rounds", type=int, default=8)
    redirect.add_argument("--connections", type=int, default=32)
    redirect.add_argument("--postbacks", type=int, default=500, help="unique transactions")
    redirect.add_argument("--postback-concurrency", type=int, default=16)
    args = parser.parse_args()
    options = Options(
        seconds=args.seconds,
        rounds=args.rounds,
        connections=args.connections,
        postbacks=args.postbacks,
        postback_concurrency=args.postback_concurrency,
    )
    return asyncio.run(run(options))


if __name__ == "__main__":
    sys.exit(main())
