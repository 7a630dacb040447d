"""The outbox dispatcher: delivers one platform's queued messages, paced and resumable.

One claim loop leases due rows in batches (``storage.outbox``), a few workers send them
through the platform's ``Sender`` at the pace the ``Pacer`` allows, and a flusher records
deliveries in small batches. Failures are sorted by what they mean:

- ``RetryAfter`` (429): the whole platform pauses for the time asked; the message and the
  claimed backlog go back to the queue without counting an attempt.
- ``Unreachable`` (blocked, DMs closed, chat gone): parked as failed, the identity is
  marked unreachable, and later messages to it are skipped without a request.
- anything else: retried with exponential backoff and jitter, parked after the last try.

Crash safety comes from the leases, not from this process: rows it claimed and never
finished become claimable again when their lease runs out. What can be sent twice after a
SIGKILL is bounded by what was in flight: at most ``concurrency`` messages being sent plus
up to ``mark_batch`` delivered-but-not-yet-recorded ones (plus whatever piled up in the
few milliseconds of one flush).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.adapters.delivery import RetryAfter, Sender, TransientFailure, Unreachable
from bot.delivery.backoff import Backoff
from bot.delivery.pacing import Limits, Pacer
from commands.core.reply import Reply
from commands.core.words import plural
from storage import Database
from storage.outbox import ClaimedMessage
from storage.store import Store

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    """How the dispatcher batches its database work (pacing is in ``Limits``)."""

    concurrency: int = 8
    claim_batch: int = 100
    lease: timedelta = timedelta(seconds=60)
    # A message whose lease has less than this left is handed back instead of sent, so a
    # slow process never races another one that may claim the row when the lease ends.
    lease_margin: timedelta = timedelta(seconds=5)
    poll_interval: float = 1.0
    mark_batch: int = 20
    mark_interval: float = 0.2


@dataclass
class DispatchCounters:
    """What this dispatcher did since it started (for logs and the benchmark)."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    rate_limited: int = 0
    claimed: int = 0
    errors: list[str] = field(default_factory=list)


class OutboxDispatcher:
    """Delivers the outbox rows of ``sender.platform`` until stopped."""

    def __init__(
        self,
        database: Database,
        sender: Sender,
        limits: Limits,
        *,
        settings: DispatchSettings | None = None,
        backoff: Backoff | None = None,
        clock: Callable[[], datetime] = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        self.database = database
        self.sender = sender
        self.platform = sender.platform
        self.settings = settings or DispatchSettings()
        self.backoff = backoff or Backoff()
        self.pacer = Pacer(limits)
        self.counters = DispatchCounters()
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        # Enough rows to keep the workers busy for ~2 s at full rate, within the batch cap,
        # and never more than can be sent in half the lease: a row whose lease runs short
        # is handed back unsent, which would only waste the claim.
        usable = (self.settings.lease - self.settings.lease_margin).total_seconds()
        self._claim_size = max(
            1,
            min(
                self.settings.claim_batch,
                max(self.settings.concurrency * 2, int(limits.rate * 2)),
                int(limits.rate * usable / 2),
            ),
        )
        self._queue: asyncio.Queue[ClaimedMessage | None] = asyncio.Queue()
        self._held: dict[int, ClaimedMessage] = {}
        self._delivered: list[int] = []
        # Chats refused during this process, with when: rows claimed before the refusal
        # was recorded are skipped without a request. Claims made later consult the
        # database (which ``touch`` clears), so an entry is only needed for one lease.
        self._unreachable: dict[str, datetime] = {}
        self._wakeup = asyncio.Event()
        self._flush_now = asyncio.Event()
        self._stopping = asyncio.Event()
        self._closing = False

    def wake(self) -> None:
        """Look for new rows now instead of at the next poll (something was queued)."""
        self._wakeup.set()

    def stop(self) -> None:
        """Finish the messages being sent, hand the rest back, record, and return."""
        self._stopping.set()
        self._wakeup.set()

    async def run(self, *, until_idle: bool = False) -> None:
        """Deliver until :meth:`stop` (or, with ``until_idle``, until nothing is due)."""
        self._closing = False
        workers = [
            asyncio.create_task(self._worker(), name=f"outbox-{self.platform}-{n}")
            for n in range(self.settings.concurrency)
        ]
        flusher = asyncio.create_task(self._flusher(), name=f"outbox-{self.platform}-flush")
        try:
            await self._claim_loop(until_idle=until_idle)
        finally:
            try:
                await self._release(self._drain_queue(), at=self._clock())
            except Exception:
                log.exception("%s outbox: could not hand back claimed rows", self.platform)
            for _ in workers:
                self._queue.put_nowait(None)
            await asyncio.gather(*workers, return_exceptions=True)
            self._closing = True
            self._flush_now.set()
            await asyncio.gather(flusher, return_exceptions=True)
            await self._flush()

    async def _claim_loop(self, *, until_idle: bool) -> None:
        while not self._stopping.is_set():
            paused = self.pacer.paused_for
            if paused > 0:
                await self._sleep(paused)
                continue
            room = self._claim_size - len(self._held)
            claimed: list[ClaimedMessage] = []
            skipped = 0
            if room >= max(1, self._claim_size // 2):
                try:
                    claimed, skipped = await self._claim(room)
                except Exception:
                    log.exception("%s outbox: claiming failed; trying again", self.platform)
                    await self._sleep(self.settings.poll_interval)
                    continue
            for message in claimed:
                self._held[message.id] = message
                self._queue.put_nowait(message)
            if claimed or skipped:
                continue
            if until_idle and not self._held:
                return
            await self._sleep(self.settings.poll_interval)

    async def _sleep(self, seconds: float) -> None:
        """Wait for ``seconds`` or until woken (new rows, room for more, stop)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)
        self._wakeup.clear()

    async def _claim(self, limit: int) -> tuple[list[ClaimedMessage], int]:
        now = self._clock()
        async with self.database.transaction() as store:
            claimed = await store.outbox.claim(
                self.platform, now=now, limit=limit, lease=self.settings.lease
            )
            claimed, skipped = await store.outbox.skip_unreachable(claimed)
        if skipped:
            self.counters.skipped += skipped
            log.info("%s outbox: skipped %d messages to unreachable users", self.platform, skipped)
        self.counters.claimed += len(claimed)
        return claimed, skipped

    async def _worker(self) -> None:
        while True:
            message = await self._queue.get()
            if message is None:
                return
            try:
                await self._deliver(message)
            except Exception:
                # Recording the outcome failed (database down): the row stays leased and
                # is retried when the lease ends.
                log.exception("%s outbox: could not record message %d", self.platform, message.id)
            finally:
                self._held.pop(message.id, None)
                if len(self._held) <= self._claim_size // 2:
                    self._wakeup.set()

    async def _deliver(self, message: ClaimedMessage) -> None:
        chat = f"{message.target_kind}:{message.target_id}"
        refused_at = self._unreachable.get(chat)
        if refused_at is not None and self._clock() - refused_at > self.settings.lease:
            del self._unreachable[chat]
            refused_at = None
        # Only rows claimed before the refusal was recorded need this; later claims were
        # checked against the database, where talking to the bot clears the mark.
        if refused_at is not None and message.lease_until - self.settings.lease <= refused_at:
            await self._record(
                lambda store: store.outbox.skip(
                    [message.id], reason="unreachable: refused earlier"
                )
            )
            self.counters.skipped += 1
            return
        try:
            reply = Reply.from_json(message.payload)
        except (KeyError, TypeError, ValueError) as error:
            problem = f"unreadable payload: {error!r}"
            log.warning("%s outbox: message %d has an %s", self.platform, message.id, problem)
            await self._record(lambda store: store.outbox.fail(message.id, error=problem))
            self.counters.failed += 1
            return
        # Hand the row back before booking a send slot it could not use in time: booked
        # slots that are never used would push every later message back.
        left = message.lease_until - self._clock() - self.settings.lease_margin
        if self.pacer.backlog >= left.total_seconds():
            await self._release([message.id], at=self._clock())
            return
        await self.pacer.wait(chat)
        if self._clock() + self.settings.lease_margin >= message.lease_until:
            await self._release([message.id], at=self._clock())
            return
        try:
            await self.sender.send(
                message.target_kind, message.target_id, reply, dedupe_key=message.dedupe_key
            )
        except Unreachable as error:
            self._unreachable[chat] = self._clock()
            self.counters.unreachable += 1
            reason, now = str(error), self._clock()
            log.info("%s outbox: %s is unreachable: %s", self.platform, chat, reason)
            await self._record(
                lambda store: store.outbox.mark_unreachable(message, reason=reason, now=now)
            )
        except RetryAfter as error:
            self.counters.rate_limited += 1
            self.pacer.pause(error.seconds)
            log.warning("%s outbox: rate limited, pausing %.1fs", self.platform, error.seconds)
            resume = self._clock() + timedelta(seconds=error.seconds)
            backlog = [message.id]
            if (
                timedelta(seconds=error.seconds) + self.settings.lease_margin
                >= self.settings.lease
            ):
                backlog += self._drain_queue()  # would outlive their leases while we wait
            await self._release(backlog, at=resume)
        except Exception as error:
            await self._retry_or_fail(message, error)
        else:
            self.counters.sent += 1
            self._delivered.append(message.id)
            if len(self._delivered) >= self.settings.mark_batch:
                self._flush_now.set()

    async def _retry_or_fail(self, message: ClaimedMessage, error: Exception) -> None:
        if not isinstance(error, TransientFailure):
            log.error(
                "%s outbox: sending message %d raised %r",
                self.platform,
                message.id,
                error,
                exc_info=error,
            )
        text = f"{type(error).__name__}: {error}"[:500]
        if self.backoff.exhausted(message.attempts):
            self.counters.failed += 1
            log.warning(
                "%s outbox: giving up on message %d after %d attempts: %s",
                self.platform,
                message.id,
                message.attempts,
                text,
            )
            await self._record(
                lambda store: store.outbox.fail(
                    message.id,
                    error=plural(
                        message.attempts,
                        "gave up after {n} attempt: {text}",
                        "gave up after {n} attempts: {text}",
                        text=text,
                    ),
                )
            )
            return
        self.counters.retried += 1
        at = self._clock() + timedelta(seconds=self.backoff.delay(message.attempts, self._rng))
        await self._record(lambda store: store.outbox.retry(message.id, error=text, at=at))

    def _drain_queue(self) -> list[int]:
        ids = []
        while not self._queue.empty():
            message = self._queue.get_nowait()
            if message is not None:
                ids.append(message.id)
                self._held.pop(message.id, None)
        return ids

    async def _release(self, ids: list[int], *, at: datetime) -> None:
        if ids:
            await self._record(lambda store: store.outbox.release(ids, at=at))

    async def _record(self, change: Callable[[Store], Awaitable[object]]) -> None:
        async with self.database.transaction() as store:
            await change(store)

    async def _flusher(self) -> None:
        # Never cancelled: a flush cut off half-way would forget deliveries it took.
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_now.wait(), self.settings.mark_interval)
            self._flush_now.clear()
            await self._flush()

    async def _flush(self) -> None:
        ids, self._delivered = self._delivered, []
        if not ids:
            return
        try:
            now = self._clock()
            await self._record(lambda store: store.outbox.mark_sent(ids, now=now))
        except Exception:
            log.exception("%s outbox: recording %d deliveries failed", self.platform, len(ids))
            self._delivered[:0] = ids
