"""The click buffer: redirects hand clicks over in memory; batches reach the database.

A redirect must not wait for a database write, and SQLite pays a thread hop per awaited
call, so clicks are collected here and written by a background task with one
``executemany`` per batch in one transaction: when ``batch_size`` clicks are waiting, or
every ``flush_seconds``, and always when the server stops. A failed batch is put back and
retried on the next flush instead of being lost.

Where a batch goes is the sink's business (``bot.web.click_sinks``): written right here
(``InlineSink``, the default when the buffer is built directly) or by the click writer
process (``ProcessSink``). Either way a click stays held, and a postback for it waits in
``flush()``, until its batch is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from operator import itemgetter

from bot.web.click_batches import BatchWriter, ClickRow
from bot.web.click_sinks import ClickSink, InlineSink
from bot.web.metrics import Metrics
from commands.fraud.rules import FraudRules
from storage import Database

log = logging.getLogger(__name__)

# Beyond this many unwritten clicks (a long database outage) the oldest are dropped, with a
# log line, rather than letting memory grow without bound.
MAX_PENDING = 1_000_000
SHUTDOWN_ATTEMPTS = 5
_CLICK_ID = itemgetter(0)


class ClickBuffer:
    def __init__(
        self,
        database: Database,
        *,
        batch_size: int,
        flush_seconds: float,
        metrics: Metrics,
        writer: contextlib.AbstractAsyncContextManager[object] | None = None,
        fraud: FraudRules | None = None,
        sink: ClickSink | None = None,
    ) -> None:
        """``writer`` and ``fraud`` shape the inline sink made when no ``sink`` is given."""
        self._batch_size = batch_size
        self._flush_seconds = flush_seconds
        self._metrics = metrics
        self._sink = sink or InlineSink(BatchWriter(database, fraud=fraud, writer=writer))
        self._pending: list[ClickRow] = []
        self._pending_ids: set[str] = set()
        self._in_flight = 0  # taken from _pending, not yet committed
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        metrics.buffer_depth = self.depth

    @property
    def sink(self) -> ClickSink:
        return self._sink

    def depth(self) -> int:
        """Clicks waiting to be written, including the batch being written now."""
        return len(self._pending) + self._in_flight

    def holds(self, click_id: str) -> bool:
        """Whether a click is still waiting here (a postback for it must flush first)."""
        return click_id in self._pending_ids

    def use_salt(self, salt: str) -> None:
        """The IP hash salt the writer hashes visits' addresses with."""
        self._sink.salt = salt

    def add(self, click: ClickRow) -> None:
        """Queue a click (``visit_row`` or ``click_row``); never blocks the request that
        made it."""
        self._pending.append(click)
        self._pending_ids.add(click[0])
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="click-buffer")

    async def stop(self) -> None:
        """Stop the background writer and write everything still waiting.

        The writer is asked to finish, not cancelled: cancelling it in the middle of a
        transaction would leave the batch's fate (and SQLite's write lock) undecided. The
        sink is closed last, after every batch it took was acknowledged.
        """
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        for attempt in range(1, SHUTDOWN_ATTEMPTS + 1):
            if await self.flush():
                break
            log.warning("shutdown flush attempt %s failed; retrying", attempt)
            await asyncio.sleep(0.5)
        else:
            log.error("could not write %s clicks on shutdown", len(self._pending))
        async with self._lock:
            await self._sink.close()

    async def flush(self, *, full_batches_only: bool = False) -> bool:
        """Write up to ``batch_size`` waiting clicks per transaction until none wait.

        Args:
            full_batches_only: leave a partial batch for later (the size trigger's way,
                which keeps batches full under load); the timer and shutdown write all.

        Returns:
            Whether everything that was to be written got written.
        """
        async with self._lock:
            # Only what was waiting when this flush began: under steady traffic new clicks
            # arrive as fast as batches are written, and a postback waiting on this flush
            # would otherwise wait for the traffic to stop (found by the soak test).
            owed = len(self._pending)
            while (
                self._pending
                and owed > 0
                and (not full_batches_only or len(self._pending) >= self._batch_size)
            ):
                batch = self._pending[: self._batch_size]  # full batches stay full
                owed -= len(batch)
                del self._pending[: len(batch)]
                started = time.perf_counter()
                self._in_flight = len(batch)
                try:
                    await self._sink.write(batch)
                except asyncio.CancelledError:
                    self._pending[:0] = batch  # not known to be written: keep them
                    raise
                except Exception:
                    self._metrics.click_write_failures += 1
                    log.exception("writing %s clicks failed; keeping them to retry", len(batch))
                    self._pending[:0] = batch
                    self._trim()
                    return False
                finally:
                    self._in_flight = 0
                self._metrics.flush_seconds.observe(time.perf_counter() - started)
                self._metrics.clicks_written += len(batch)
                self._pending_ids.difference_update(map(_CLICK_ID, batch))
        return True

    async def _run(self) -> None:
        async with self._lock:
            await self._sink.open()
        while not self._stopping:
            woken = False
            with contextlib.suppress(TimeoutError):
                woken = await asyncio.wait_for(self._wake.wait(), timeout=self._flush_seconds)
            self._wake.clear()
            if not self._stopping:
                await self.flush(full_batches_only=woken)

    def _trim(self) -> None:
        excess = len(self._pending) - MAX_PENDING
        if excess > 0:
            dropped = self._pending[:excess]
            del self._pending[:excess]
            self._pending_ids.difference_update(map(_CLICK_ID, dropped))
            log.error("click buffer full: dropped the %s oldest unwritten clicks", excess)
