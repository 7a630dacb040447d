"""Starting and stopping one outbox dispatcher per platform, from config."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from bot.adapters.delivery import Sender
from bot.config import DeliveryConfig, PacingConfig
from bot.delivery.backoff import Backoff
from bot.delivery.dispatcher import DispatchSettings, OutboxDispatcher
from bot.delivery.pacing import Limits
from storage import Database

log = logging.getLogger(__name__)


def limits(pacing: PacingConfig) -> Limits:
    return Limits(
        rate=pacing.rate_per_second, burst=pacing.burst, per_chat_interval=pacing.per_chat_seconds
    )


def pacing_for(config: DeliveryConfig, platform: str) -> PacingConfig:
    """The configured pacing of ``platform``; unknown platforms get Discord's caution."""
    found = getattr(config, platform, None)
    return found if isinstance(found, PacingConfig) else config.discord


class DeliveryService:
    """The dispatchers of every platform that has a sender; a start/stop pair."""

    def __init__(
        self,
        database: Database,
        config: DeliveryConfig,
        senders: Sequence[Sender],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        settings = DispatchSettings(
            concurrency=config.concurrency,
            claim_batch=config.claim_batch,
            lease=timedelta(seconds=config.lease_seconds),
            lease_margin=timedelta(seconds=min(5.0, config.lease_seconds / 4)),
            poll_interval=config.poll_seconds,
            mark_batch=config.mark_batch,
        )
        backoff = Backoff(
            base=config.backoff_base_seconds,
            cap=config.backoff_max_seconds,
            max_attempts=config.max_attempts,
        )
        self.dispatchers = [
            OutboxDispatcher(
                database,
                sender,
                limits(pacing_for(config, sender.platform)),
                settings=settings,
                backoff=backoff,
                clock=clock,
            )
            for sender in senders
        ]
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def platforms(self) -> frozenset[str]:
        return frozenset(d.platform for d in self.dispatchers)

    def start(self) -> None:
        for dispatcher in self.dispatchers:
            task = asyncio.create_task(dispatcher.run(), name=f"outbox-{dispatcher.platform}")
            task.add_done_callback(_log_crash)
            self._tasks.append(task)
        if self.dispatchers:
            log.info("delivering the outbox for %s", ", ".join(sorted(self.platforms)))

    def wake(self) -> None:
        """New messages were queued: look now rather than at the next poll."""
        for dispatcher in self.dispatchers:
            dispatcher.wake()

    async def stop(self) -> None:
        """Let in-flight sends finish, hand back the rest, record deliveries."""
        for dispatcher in self.dispatchers:
            dispatcher.stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped", task.get_name(), exc_info=task.exception())
