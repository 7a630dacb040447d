"""Where the click buffer's batches go: this process, or a click writer process.

Writing a batch (hashing visitors, the insert, fraud counters, badges) costs 7 µs of CPU
per click when one address floods a link and 15-17 µs for an ordinary crowd (``python -m
bench writer``), and on the tracking server's one event-loop thread that is CPU not spent
answering redirects. ``ProcessSink`` hands each batch to
``python -m bot.web.click_writer`` over a pipe, so the pipeline runs on another core and
the server's share per click is one tuple and its part of a ``marshal`` frame.

Both sinks have one contract: ``write(batch)`` returns once the batch is committed (with
the count of rows the database refused and that were set aside, see
``bot.web.click_quarantine``) and raises when it was not, so the buffer keeps the clicks
``held`` until then and retries a failed batch. ``ProcessSink`` writes one batch at a
time (the buffer's lock already serialises them) and survives its child: a child that
dies is restarted and the batch resent; a resend of a batch committed just before the
death inserts nothing twice (``clicks.add_many`` skips a known ``click_id``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sys
from collections import Counter
from typing import Protocol

from bot.web.click_batches import BatchWriter, ClickRow, encode_frame
from bot.web.click_quarantine import decode_counts
from commands.fraud.rules import FraudRules
from storage import Database

log = logging.getLogger(__name__)

WRITER_MODULE = "bot.web.click_writer"
ATTEMPTS = 3  # child starts per batch before the batch is given back to the buffer
STOP_SECONDS = 30.0  # a graceful child exits as soon as its input ends
REAP_SECONDS = 2.0  # for a child whose output ended to finish exiting
READY = 0  # the sequence number of the child's "set up" answer; batches count from 1
READY_SECONDS = 60.0  # for a child starting on a loaded machine to say it is ready


class ClickSink(Protocol):
    salt: str
    """Hashes the addresses of visits; set before the first write (``visit_row``)."""

    async def open(self) -> None:
        """Get ready to write (errors are logged; ``write`` tries again)."""

    async def write(self, batch: list[ClickRow]) -> Counter[str]:
        """Return once the batch is committed, with the rows set aside by kind; raise if it
        was not."""

    async def close(self) -> None:
        """Release what ``open`` took; called after the last ``write``."""


class InlineSink:
    """Writes on this process's event loop (``click_writer = "inline"``, and tests)."""

    def __init__(self, writer: BatchWriter) -> None:
        self._writer = writer

    @property
    def salt(self) -> str:
        return self._writer.salt

    @salt.setter
    def salt(self, value: str) -> None:
        self._writer.salt = value

    async def open(self) -> None:
        return None

    async def write(self, batch: list[ClickRow]) -> Counter[str]:
        return await self._writer.write(batch)

    async def close(self) -> None:
        return None


class BatchRejected(Exception):
    """The click writer process could not commit a batch (it logged why) and rolled it
    back; the buffer keeps the clicks and tries again later."""


class ClickWriterUnavailable(Exception):
    """The click writer process kept dying or would not start; the batch was kept."""


class ProcessSink:
    """Ships batches to a child ``bot.web.click_writer`` and waits for its acknowledgement.

    The child learns what it needs from the first frame on its stdin, never from its
    command line (where a database password would show in ``ps``): the database URL and
    PostgreSQL schema, the fraud rules, and the log level.
    """

    def __init__(
        self, database: Database, *, fraud: FraudRules | None, log_level: int | None = None
    ) -> None:
        self._database = database
        self._fraud = fraud
        self._log_level = log_level
        self.salt = ""
        self._process: asyncio.subprocess.Process | None = None
        self._sequence = 0
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The running child's process id (for logs and tests)."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    async def open(self) -> None:
        """Start the child and wait until it says it is set up (``0 ok``).

        The tracking server opens its port only after this, so no click waits in the
        buffer for Python's imports in the child.
        """
        try:
            process = await self._running()
            stdin, stdout = _pipes(process)
            await stdin.drain()
            line = await asyncio.wait_for(stdout.readline(), timeout=READY_SECONDS)
        except (OSError, TimeoutError):
            log.exception("the click writer process did not start; will try again")
            return
        if line.strip() != f"{READY} ok".encode():
            log.error("click writer process %s answered %r to its setup", process.pid, line)

    async def write(self, batch: list[ClickRow]) -> Counter[str]:
        for attempt in range(1, ATTEMPTS + 1):
            process = await self._running()
            self._sequence += 1
            sequence = self._sequence
            # The buffer holds rows in wire format already: one marshal call per batch.
            answer = await self._exchange(process, encode_frame((sequence, batch)), sequence)
            status, _, quarantined = (answer or "").partition(" ")
            if status == "ok":
                return decode_counts(quarantined)
            if status == "error":
                raise BatchRejected(f"the click writer could not write {len(batch)} clicks")
            code = await self._reap(process)
            log.error(
                "click writer process %s ended (exit %s) before acknowledging %s clicks "
                "(attempt %s of %s)",
                process.pid,
                code,
                len(batch),
                attempt,
                ATTEMPTS,
            )
            await asyncio.sleep(0.1 * attempt)
        raise ClickWriterUnavailable(f"no click writer process wrote {len(batch)} clicks")

    async def close(self) -> None:
        """End the child's input and wait for it to exit (every batch is acknowledged)."""
        self._closed = True
        process, self._process = self._process, None
        if process is None:
            return
        stdin, _ = _pipes(process)
        stdin.close()
        with contextlib.suppress(ConnectionError):
            await stdin.wait_closed()
        try:
            code = await asyncio.wait_for(process.wait(), timeout=STOP_SECONDS)
        except TimeoutError:
            log.error(  # noqa: TRY400 - a timeout's traceback says nothing
                "click writer process %s did not exit; killing it", process.pid
            )
            code = await self._reap(process)
        if code != 0:
            log.error("click writer process %s exited with %s", process.pid, code)

    async def _running(self) -> asyncio.subprocess.Process:
        if self._closed:
            raise ClickWriterUnavailable("the click writer was closed")
        process = self._process
        if process is not None:
            if process.returncode is None:
                return process
            log.error(
                "click writer process %s exited with %s while idle",
                process.pid,
                process.returncode,
            )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            WRITER_MODULE,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        stdin, _ = _pipes(process)
        stdin.write(encode_frame(self._setup()))  # drained with the first batch
        self._process = process
        log.info("click writer process %s started", process.pid)
        return process

    def _setup(self) -> dict[str, object]:
        level = self._log_level
        return {
            "url": self._database.url,
            "salt": self.salt,
            "schema": self._database.schema,
            "fraud": dataclasses.asdict(self._fraud) if self._fraud is not None else None,
            "log_level": level if level is not None else logging.getLogger().getEffectiveLevel(),
        }

    async def _exchange(
        self, process: asyncio.subprocess.Process, frame: bytes, sequence: int
    ) -> str | None:
        """Send one batch and read its acknowledgement: ``ok`` (and what was set aside),
        ``error``, or ``None`` when the child is gone (or talks nonsense, and is killed
        for it)."""
        stdin, stdout = _pipes(process)
        try:
            stdin.write(frame)
            await stdin.drain()
            while True:
                line = await stdout.readline()
                if not line:
                    return None
                answered, _, status = line.decode("ascii", "replace").strip().partition(" ")
                if not answered.isdigit() or status.partition(" ")[0] not in {"ok", "error"}:
                    log.error("click writer process %s answered %r", process.pid, line)
                    process.kill()
                    return None
                # A smaller number is the late answer to a write that was cancelled.
                if int(answered) == sequence:
                    return status
        except ConnectionError:
            return None

    async def _reap(self, process: asyncio.subprocess.Process) -> int:
        """Wait for a child that is going (killing it if it lingers); its exit status.

        A child whose output ended is usually already dead: it gets a moment to be
        reaped by asyncio's child watcher first, because ``kill()`` polls the process
        and would reap it behind the watcher's back (which then reports status 255).
        """
        try:
            code = await asyncio.wait_for(process.wait(), timeout=REAP_SECONDS)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            code = await process.wait()
        if self._process is process:
            self._process = None
        return code


def _pipes(
    process: asyncio.subprocess.Process,
) -> tuple[asyncio.StreamWriter, asyncio.StreamReader]:
    if process.stdin is None or process.stdout is None:  # pragma: no cover - started with both
        raise RuntimeError("the click writer process has no pipes")
    return process.stdin, process.stdout
