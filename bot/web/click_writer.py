"""``python -m bot.web.click_writer``: the click writer process the tracking server starts.

It reads frames from stdin (see ``bot.web.click_batches``): first its setup (database,
fraud rules, log level), then ``(sequence, rows)`` batches, each written by a
``BatchWriter`` and answered on stdout with one line, ``<sequence> ok`` once committed
(followed by ``kind=count`` words when rows the database refused were set aside, see
``bot.web.click_quarantine``) or ``<sequence> error`` when not (the server keeps those
clicks and sends them again). Once set up (imports done, database reached) it answers
``0 ok``, which the server waits for before it accepts clicks.
It exits 0 when its input ends, which is how the server stops it, and also what happens
when the server dies. SIGINT and SIGTERM are ignored: a terminal's Ctrl-C or a service
manager's stop reaches the whole process group, and the server must be the one to decide
that every batch has been written.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from typing import Any, BinaryIO

from bot.priority import run_as_background
from bot.web.click_batches import BatchWriter, read_frame
from bot.web.click_quarantine import encode_counts
from bot.web.click_sinks import READY
from commands.fraud.rules import FraudRules
from storage import Database

log = logging.getLogger(__name__)


async def serve(reader: asyncio.StreamReader, acks: BinaryIO) -> int:
    """Write batches until the input ends; returns the exit status."""
    setup = await read_frame(reader)
    if not isinstance(setup, dict):
        print("click writer: no setup frame on stdin", file=sys.stderr)  # noqa: T201
        return 2
    logging.basicConfig(
        level=setup["log_level"],
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
        stream=sys.stderr,
    )
    database = Database.connect(setup["url"], schema=setup["schema"])
    writer = BatchWriter(database, fraud=_fraud(setup["fraud"]), salt=setup["salt"])
    try:
        await database.ping()  # connected before the server counts on this writer
    except Exception:
        log.exception("click writer: the database does not answer yet; batches will retry")
    acks.write(f"{READY} ok\n".encode())
    log.debug("click writer ready")
    try:
        while (frame := await read_frame(reader)) is not None:
            sequence, rows = frame
            try:
                quarantined = await writer.write(rows)
            except Exception:
                log.exception("writing %s clicks failed; the server sends them again", len(rows))
                status = "error"
            else:
                status = f"ok {encode_counts(quarantined)}".rstrip()
            try:
                acks.write(f"{sequence} {status}\n".encode())
            except BrokenPipeError:
                log.warning("the tracking server is gone; stopping")
                return 1
    finally:
        await database.close()
    return 0


def _fraud(fields: dict[str, Any] | None) -> FraudRules | None:
    return FraudRules(**fields) if fields is not None else None


async def _main(acks: BinaryIO) -> int:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return await serve(reader, acks)


def main() -> int:
    run_as_background()  # batches wait in the server's buffer meanwhile; none is lost
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Acknowledgements get stdout's pipe to themselves; anything printed by accident
    # goes to stderr instead of corrupting the protocol.
    acks = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        return asyncio.run(_main(acks))
    finally:
        acks.close()


if __name__ == "__main__":
    sys.exit(main())
