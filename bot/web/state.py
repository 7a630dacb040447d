"""Everything the tracking server's handlers share, kept on the aiohttp app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from aiohttp import web

from bot.config import TrackingConfig
from bot.web.click_batches import BatchWriter
from bot.web.click_buffer import ClickBuffer
from bot.web.click_sinks import ClickSink, InlineSink, ProcessSink
from bot.web.metrics import Metrics
from bot.web.routes import RouteCache
from commands.core.invocation import Services
from commands.core.text import cleaned
from commands.tracking.conversions import TrackingRules
from commands.tracking.ip_hashes import instance_salt

log = logging.getLogger(__name__)

MAX_ADDRESS_LENGTH = 64  # an IPv6 address with a zone is at most 45 characters


@dataclass
class TrackingState:
    services: Services
    config: TrackingConfig
    buffer: ClickBuffer
    routes: RouteCache
    rules: TrackingRules
    metrics: Metrics
    salt: str = field(default="", repr=False)
    # SQLite has one writer at a time; writers queueing on its busy timeout sleep in
    # steps of up to 100 ms, so this process's writers take turns here instead.
    # PostgreSQL writers run concurrently (the unique constraints still decide).
    writer: contextlib.AbstractAsyncContextManager[object] = field(
        default_factory=contextlib.nullcontext
    )
    _unsubscribe: Callable[[], None] | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls, services: Services, config: TrackingConfig, rules: TrackingRules
    ) -> TrackingState:
        fraud = rules.fraud
        metrics = Metrics()
        zone = services.settings.timezone
        sqlite = services.database.dialect == "sqlite"
        writer: contextlib.AbstractAsyncContextManager[object] = (
            asyncio.Lock() if sqlite else contextlib.nullcontext()
        )
        sink: ClickSink
        if config.click_writer == "process" and not services.database.in_memory:
            sink = ProcessSink(services.database, fraud=fraud)
        else:
            sink = InlineSink(BatchWriter(services.database, fraud=fraud, writer=writer))
        return cls(
            services=services,
            config=config,
            buffer=ClickBuffer(
                services.database,
                batch_size=config.click_batch_size,
                flush_seconds=config.click_flush_seconds,
                metrics=metrics,
                sink=sink,
            ),
            routes=RouteCache(services.database, ttl_seconds=config.link_cache_seconds, zone=zone),
            rules=rules,
            metrics=metrics,
            writer=writer,
        )

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.services.clock

    async def open(self) -> None:
        """Settle the IP hash salt (shared with /link and the importer) and start writing
        clicks."""
        override = self.config.ip_hash_salt
        self.salt = await instance_salt(
            self.services.database,
            override.get_secret_value() if override is not None else None,
            now=self.clock(),
        )
        self.rules = replace(self.rules, ip_salt=self.salt)
        self.buffer.use_salt(self.salt)
        self.buffer.start()
        # A pause, suspension or cap set by a command in this process reaches the next click.
        self._unsubscribe = self.services.link_changes.subscribe(self.routes.forget)

    async def close(self) -> None:
        """Write every buffered click (runs on SIGINT/SIGTERM via the app's cleanup)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self.buffer.stop()
        log.info("click buffer flushed (%s clicks written in total)", self.metrics.clicks_written)

    def client_address(self, request: web.Request) -> str:
        """The visitor's address, IPv4 in its plain form.

        A dual-stack listener reports IPv4 visitors as ``::ffff:a.b.c.d``; postbacks and
        the check page must hash the same visitor to the same value, so that prefix goes.
        """
        address = ""
        if self.config.trust_forwarded_for:
            # A header's bytes need not be UTF-8 (aiohttp keeps them as surrogates) and
            # the address is hashed and stored: it is made storable here, at the edge.
            forwarded = request.headers.get("X-Forwarded-For", "")
            address = cleaned(forwarded.split(",", 1)[0], MAX_ADDRESS_LENGTH)
        if not address:
            address = request.remote or ""
        if address[:7].lower() == "::ffff:" and "." in address:
            return address[7:]
        return address


TRACKING = web.AppKey("tracking", TrackingState)
