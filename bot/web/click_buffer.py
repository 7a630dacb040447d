"""The click buffer: redirects hand clicks over in memory; batches reach the database.

A redirect must not wait for a database write, and SQLite pays a thread hop per awaited
call, so clicks are collected here and written by a background task with one
``executemany`` per batch in one transaction: when ``batch_size`` clicks are waiting, when
the oldest waiting click is 30 % of a flush window old, and always when the server stops. A
batch that fails for an outage is put back and retried instead of being lost; rows the
database refuses are set aside by the writer (``bot.web.click_quarantine``) and counted.

Clicks held here die with the process on kill -9, so the buffer promises that no click
is held unwritten for longer than ``flush_seconds``: when the writer would need more than
60 % of the window for what is waiting, or the oldest unwritten click is already that
old (a writer slower than the traffic, a database having a slow moment), redirects wait
in ``catch_up()`` before answering. That paces the traffic to what the writer can commit
instead of letting a backlog grow. If the writer makes no progress for a whole window (a
database outage), redirects are answered anyway and the clicks held as before: an outage
must not strand visitors, and that wait is counted in ``/metrics``.

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
# The oldest waiting click is written once it is this share of the flush window old...
DUE_SHARE = 0.3
# ...and redirects wait once the writer's queue, or the oldest click's age, passes this
# share: the rest of the window is the margin for the batch in flight (0.8 let a click on
# PostgreSQL reach 1.12 s in one of 20 kills).
BUDGET_SHARE = 0.6
# Writer cost per click before any batch was measured (``python -m bench writer``: 7-17
# µs); batches smaller than this are mostly fixed cost and do not update the estimate.
INITIAL_SECONDS_PER_CLICK = 20e-6
ESTIMATE_MIN_BATCH = 100
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
        self._due_seconds = flush_seconds * DUE_SHARE
        self._budget_seconds = flush_seconds * BUDGET_SHARE
        self._metrics = metrics
        self._sink = sink or InlineSink(BatchWriter(database, fraud=fraud, writer=writer))
        self._pending: list[ClickRow] = []
        self._arrived: list[float] = []  # monotonic time each pending click came in
        self._pending_ids: set[str] = set()
        self._in_flight = 0  # taken from _pending, not yet committed
        self._in_flight_since: float | None = None  # arrival of its oldest click
        self._writing_since = 0.0  # when the batch in flight was handed to the sink
        self._seconds_per_click = INITIAL_SECONDS_PER_CLICK
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()  # set (and replaced) whenever a batch commits
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        metrics.buffer_depth = self.depth
        metrics.buffer_oldest_seconds = self.oldest_seconds

    @property
    def sink(self) -> ClickSink:
        return self._sink

    def depth(self) -> int:
        """Clicks waiting to be written, including the batch being written now."""
        return len(self._pending) + self._in_flight

    def oldest_seconds(self) -> float:
        """How long the oldest unwritten click has been held (0 when none is)."""
        oldest = self._in_flight_since
        if oldest is None:
            if not self._arrived:
                return 0.0
            oldest = self._arrived[0]
        return time.monotonic() - oldest

    def holds(self, click_id: str) -> bool:
        """Whether a click is still waiting here (a postback for it must flush first)."""
        return click_id in self._pending_ids

    def use_salt(self, salt: str) -> None:
        """The IP hash salt the writer hashes visits' addresses with."""
        self._sink.salt = salt

    def add(self, click: ClickRow) -> None:
        """Queue a click (``visit_row`` or ``click_row``); never blocks the request that
        made it (``behind``/``catch_up`` are the redirect's separate, cheap check)."""
        if not self._pending:
            self._wake.set()  # the writer times the flush from this click's arrival
        self._pending.append(click)
        self._arrived.append(time.monotonic())
        self._pending_ids.add(click[0])
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    def behind(self) -> bool:
        """Whether a click answered now might still be unwritten a window from now.

        Two signs, either one enough: everything waiting (what is left of the batch in
        flight, then the rest, at the writer's measured pace per click) would take longer
        than the budget (60 % of ``flush_seconds``), so a click joining the queue now would
        be written too late; or the oldest unwritten click is already that old, so the
        writer is not keeping its pace at all.
        """
        if not self._in_flight and not self._pending:
            return False
        if self.oldest_seconds() >= self._budget_seconds:
            return True
        pace = self._seconds_per_click
        ahead = len(self._pending) * pace
        if self._in_flight:
            ahead += max(0.0, self._in_flight * pace - (time.monotonic() - self._writing_since))
        return ahead >= self._budget_seconds

    async def catch_up(self) -> None:
        """Wait until the buffer is no longer ``behind``, for at most one flush window.

        Past that the writer is not progressing (the database is down or stuck), and a
        visitor must not be stranded for it: the caller answers anyway and the clicks
        are held as before (``affbot_click_backpressure_timeouts_total``).
        """
        self._metrics.click_backpressure_waits += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._flush_seconds
        while self.behind() and not self._stopping:
            remaining = deadline - loop.time()
            if remaining <= 0:
                self._metrics.click_backpressure_timeouts += 1
                return
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), timeout=remaining)

    async def start(self) -> None:
        """Get the sink ready, then start writing in the background.

        Ready first: a click writer process takes a second or more to start on a loaded
        machine, and clicks answered meanwhile would wait longer than the window (found
        by ``python -m bench crash``: every click of a run killed early was lost).
        """
        if self._task is None:
            async with self._lock:
                await self._sink.open()
            self._task = asyncio.create_task(self._run(), name="click-buffer")

    async def stop(self) -> None:
        """Stop the background writer and write everything still waiting.

        The writer is asked to finish, not cancelled: cancelling it in the middle of a
        transaction would leave the batch's fate (and SQLite's write lock) undecided. The
        sink is closed last, after every batch it took was acknowledged.
        """
        self._stopping = True
        self._wake.set()
        self._progress.set()  # redirects waiting in catch_up answer now
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
                written = await self._write_next()
                if written is None:
                    return False
                owed -= written
        return True

    async def _write_next(self) -> int | None:
        """Write the next batch from the front; its size once committed, else ``None``."""
        batch = self._pending[: self._batch_size]  # full batches stay full
        arrived = self._arrived[: len(batch)]
        del self._pending[: len(batch)]
        del self._arrived[: len(batch)]
        started = self._writing_since = time.monotonic()
        self._in_flight = len(batch)
        self._in_flight_since = arrived[0]
        try:
            quarantined = await self._sink.write(batch)
        except asyncio.CancelledError:
            self._keep(batch, arrived)  # not known to be written: keep them
            raise
        except Exception:
            self._metrics.click_write_failures += 1
            log.exception("writing %s clicks failed; keeping them to retry", len(batch))
            self._keep(batch, arrived)
            self._trim()
            return None
        finally:
            self._in_flight = 0
            self._in_flight_since = None
        elapsed = time.monotonic() - started
        self._metrics.flush_seconds.observe(elapsed)
        if len(batch) >= ESTIMATE_MIN_BATCH:
            self._seconds_per_click = 0.7 * self._seconds_per_click + 0.3 * elapsed / len(batch)
        set_aside = sum(quarantined.values())
        self._metrics.clicks_written += len(batch) - set_aside
        self._metrics.clicks_quarantined.update(quarantined)
        self._pending_ids.difference_update(map(_CLICK_ID, batch))
        self._progress.set()
        self._progress = asyncio.Event()
        return len(batch)

    def _keep(self, batch: list[ClickRow], arrived: list[float]) -> None:
        self._pending[:0] = batch
        self._arrived[:0] = arrived

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._until_due())
            self._wake.clear()
            if not self._stopping:
                await self.flush(full_batches_only=not self._due())

    def _until_due(self) -> float:
        """Seconds until the oldest waiting click is due (the flush timer runs from the
        click's arrival, not from the last flush, so no click waits a window and a half)."""
        if not self._arrived:
            return self._due_seconds
        return max(0.0, self._arrived[0] + self._due_seconds - time.monotonic())

    def _due(self) -> bool:
        if not self._arrived:
            return False
        return time.monotonic() - self._arrived[0] >= self._due_seconds or self.behind()

    def _trim(self) -> None:
        excess = len(self._pending) - MAX_PENDING
        if excess > 0:
            dropped = self._pending[:excess]
            del self._pending[:excess]
            del self._arrived[:excess]
            self._pending_ids.difference_update(map(_CLICK_ID, dropped))
            log.error("click buffer full: dropped the %s oldest unwritten clicks", excess)
