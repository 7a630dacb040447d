"""``python -m bench redirect|fanout|writer [options]``: run one benchmark.

``redirect`` compares the tracking server with a bare aiohttp app (redirects and
postbacks); ``fanout`` delivers a broadcast through a rate-limited fake platform;
``writer`` times the click writer's pipeline against plain SQLite inserts; ``backup`` times
``affbot db backup`` of a large SQLite database under redirect and postback load.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bench.redirect import Options, run


def main(argv: list[str]) -> int:
    if argv and argv[0] == "fanout":
        from bench import fanout

        return fanout.main(argv[1:])
    if argv and argv[0] == "backup":
        from bench import backup

        return backup.main(argv[1:])
    if argv and argv[0] == "writer":
        from bench import writer

        return writer.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    redirect = commands.add_parser(
        "redirect", help="tracking server vs a bare aiohttp app: redirects and postbacks"
    )
    commands.add_parser("fanout", help="outbox delivery through a rate-limited fake platform")
    commands.add_parser("writer", help="the click writer's CPU per click against bare SQLite")
    commands.add_parser("backup", help="affbot db backup of a large database under load")
    redirect.add_argument("--seconds", type=float, default=2.0, help="per server per round")
    redirect.add_argument("--rounds", type=int, default=8)
    redirect.add_argument("--connections", type=int, default=32)
    redirect.add_argument("--postbacks", type=int, default=500, help="unique transactions")
    redirect.add_argument("--postback-concurrency", type=int, default=16)
    redirect.add_argument(
        "--visitors",
        type=int,
        default=1,
        help="distinct visitor addresses (sent as X-Forwarded-For); 1 sends none",
    )
    redirect.add_argument(
        "--postgres",
        metavar="URL",
        help="run affbot on PostgreSQL: a server URL such as "
        "postgresql://postgres@127.0.0.1:5432/test (a fresh database is made and dropped)",
    )
    args = parser.parse_args(argv)
    options = Options(
        seconds=args.seconds,
        rounds=args.rounds,
        connections=args.connections,
        postbacks=args.postbacks,
        postback_concurrency=args.postback_concurrency,
        postgres=args.postgres,
        visitors=args.visitors,
    )
    return asyncio.run(run(options))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
