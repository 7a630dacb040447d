"""The ``affbot`` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from bot.config import Config, ConfigError, describe, load_config
from commands.core.invocation import USER_ID_LIMIT
from commands.core.text import problem
from commands.core.words import plural

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="affbot",
        description="A messaging bot for affiliate and referral communities.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def with_config(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument(
            "--config",
            type=Path,
            metavar="PATH",
            help="TOML config file (default: $AFFBOT_CONFIG or ./config.toml if present)",
        )
        return sub

    with_config(
        commands.add_parser(
            "run",
            help="run the bot: chat adapters, tracking server, scheduler",
            description=(
                "Start every configured component. Without a platform token and in a "
                "terminal, the console adapter opens too."
            ),
        )
    )
    deliver = with_config(
        commands.add_parser(
            "deliver",
            help="only deliver queued Telegram/Discord messages (affbot run starts one)",
            description=(
                "Deliver the outbox to Telegram and Discord until SIGINT/SIGTERM, without "
                "receiving updates (no polling, no gateway). `affbot run` runs this as a "
                "child process so broadcasts never slow the tracking server; run it yourself "
                "only beside an `affbot run` with [delivery] enabled = false."
            ),
        )
    )
    deliver.add_argument(
        "--supervised",
        action="store_true",
        help="started by affbot run: configuration and wake-ups on stdin, stop at its end",
    )
    console = with_config(
        commands.add_parser("console", help="talk to the bot from this terminal (or a pipe)")
    )
    console.add_argument(
        "--as",
        dest="user",
        metavar="NAME",
        type=_console_user,
        help=f"who you are, at most {USER_ID_LIMIT} characters (default: config)",
    )
    console.add_argument("--manager", action="store_true", help="act as a program manager")
    export = with_config(
        commands.add_parser(
            "export",
            help="write payouts due, conversions, a leaderboard or campaigns as CSV",
            description=(
                "Write the data behind /payouts, the conversions of a period, a "
                "leaderboard, or clicks and results per campaign link as CSV (to stdout "
                "unless --output is given)."
            ),
        )
    )
    export.add_argument("what", choices=("payouts", "conversions", "leaderboard", "campaigns"))
    export.add_argument("--format", choices=("csv",), default="csv", help="output format")
    export.add_argument(
        "--period",
        choices=("today", "week", "last-week", "month", "last-month", "all"),
        default="month",
        help="period for conversions and leaderboard (default: month)",
    )
    export.add_argument("--program", metavar="SLUG", help="only this program")
    export.add_argument(
        "--metric",
        choices=("conversions", "revenue", "commission", "clicks"),
        default="conversions",
        help="leaderboard metric (default: conversions)",
    )
    export.add_argument("--output", type=Path, metavar="PATH", help="file to write")
    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    with_config(db_commands.add_parser("upgrade", help="apply schema migrations"))
    db_backup = with_config(
        db_commands.add_parser(
            "backup",
            help="copy the SQLite database to a new file while the bot runs",
            description=(
                "A consistent, checked copy of the live SQLite database (VACUUM INTO a "
                "hidden file, integrity check, then the name PATH), with a progress line "
                "every few seconds on stderr. On a PostgreSQL URL it copies nothing: it "
                "prints the pg_dump command to use and exits with status 2."
            ),
        )
    )
    db_backup.add_argument("path", type=Path, metavar="PATH")
    db_backup.add_argument(
        "--timeout",
        type=_positive_seconds,
        metavar="SECONDS",
        help="give up after this long, leaving no file behind (default: no limit)",
    )
    db_restore = with_config(
        db_commands.add_parser(
            "restore",
            help="replace the SQLite database with a backup (stop the bot first)",
            description="Checks the backup, then copies it over the configured database.",
        )
    )
    db_restore.add_argument("path", type=Path, metavar="PATH")
    importing = commands.add_parser("import", help="import data from files")
    import_commands = importing.add_subparsers(dest="import_kind", metavar="KIND", required=True)
    conversions = with_config(
        import_commands.add_parser(
            "conversions",
            help="record conversions from a CSV export (the postback rules, row by row)",
            description=(
                "Record each row like a postback: the same field names and aliases, "
                "validation, attribution, commission and caps. Rejected rows are listed "
                "with their line numbers and never stop the others; re-running a file "
                "inserts nothing. Exit status 1 when any row was rejected."
            ),
        )
    )
    conversions.add_argument("file", type=Path, metavar="FILE.csv")
    conversions.add_argument(
        "--program", metavar="SLUG", help="the program, for files without a program column"
    )
    return parser


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return seconds


def _console_user(name: str) -> str:
    """``--as NAME`` is the console's user id: refused here, in one line, when it could
    not be stored (the same limit as ``console.user`` in the config)."""
    reason = problem(name, USER_ID_LIMIT) if name else "is empty"
    if reason is not None:
        raise argparse.ArgumentTypeError(f"the name {reason}")
    return name


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "deliver" and args.supervised:
            config = _config_from_parent()
        else:
            config = load_config(args.config, required=args.config is not None)
    except ConfigError as error:
        print(f"affbot: {error}", file=sys.stderr)  # noqa: T201
        return 2
    logging.basicConfig(
        level=config.logging.level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Alembic narrates every plugin it loads at INFO; only its problems matter here.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # APScheduler announces every job it adds; our scheduler logs what matters itself.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        return asyncio.run(_dispatch(args, config))
    except KeyboardInterrupt:
        return 130
    except OSError as error:
        # Unreachable database or a port in use: say so in one line.
        print(f"affbot: {error}", file=sys.stderr)  # noqa: T201
        return 1


async def _dispatch(args: argparse.Namespace, config: Config) -> int:
    from bot import app
    from bot.database_check import open_database
    from storage.migrate import upgrade

    if args.command == "run":
        await app.run_bot(config)
    elif args.command == "deliver":
        from bot.delivery.standalone import run_delivery

        return await run_delivery(config, supervised=args.supervised)
    elif args.command == "console":
        manager = (
            True if args.manager else (config.console.manager if args.user is None else False)
        )
        await app.run_console(config, user=args.user or config.console.user, manager=manager)
    elif args.command == "export":
        from bot.export import run_export

        return await run_export(
            config,
            args.what,
            period=args.period,
            program=args.program,
            metric=args.metric,
            output=args.output,
        )
    elif args.command == "db" and args.db_command in {"backup", "restore"}:
        return _backup_or_restore(args, config)
    elif args.command == "db":
        database = await open_database(config.database.url.get_secret_value())
        try:
            revision = await upgrade(database)
        finally:
            await database.close()
        print(f"database at revision {revision}")  # noqa: T201
    elif args.command == "import":
        return await _import_conversions(args, config)
    return 0


def _config_from_parent() -> Config:
    """The configuration ``affbot run`` writes as the first line of a child's stdin."""
    from pydantic import ValidationError

    from bot.delivery.standalone import config_from_line, read_line_unbuffered

    line = read_line_unbuffered()
    if not line.strip():
        raise ConfigError("--supervised: no configuration on stdin (only affbot run uses it)")
    try:
        return config_from_line(line)
    except ValidationError as error:  # before ValueError: its text quotes every value
        raise ConfigError(f"--supervised: bad configuration on stdin: {describe(error)}") from None
    except ValueError:
        raise ConfigError("--supervised: the configuration on stdin is not JSON") from None


def _backup_or_restore(args: argparse.Namespace, config: Config) -> int:
    from bot.backup import BackupError, backup, restore

    url = config.database.url.get_secret_value()
    try:
        if args.db_command == "backup":
            result = backup(url, args.path, timeout=args.timeout, progress=sys.stderr)
            size = plural(result.size, "{n} byte", "{n} bytes")
            print(  # noqa: T201
                f"backed up to {args.path} ({size}, checked, {result.seconds:.1f} s)"
            )
        else:
            restore(url, args.path)
            print(f"restored from {args.path}")  # noqa: T201
    except BackupError as error:
        print(f"affbot: {error}", file=sys.stderr)  # noqa: T201
        return 2
    return 0


async def _import_conversions(args: argparse.Namespace, config: Config) -> int:
    from bot import app
    from bot.importer import import_conversions

    if not args.file.is_file():
        print(f"affbot: {args.file}: no such file", file=sys.stderr)  # noqa: T201
        return 2
    async with app.open_core(config) as core:
        try:
            summary = await import_conversions(
                core.database,
                args.file,
                program=args.program.lower() if args.program else None,
                rules=core.rules,
                clock=core.services.clock,
                progress=sys.stderr if sys.stderr.isatty() else None,
                ip_hash_salt=core.services.settings.ip_hash_salt,
            )
        except (OSError, UnicodeDecodeError) as error:
            print(f"affbot: {args.file}: cannot be read: {error}", file=sys.stderr)  # noqa: T201
            return 2
    print(summary.report())  # noqa: T201
    return 1 if summary.rejected else 0
