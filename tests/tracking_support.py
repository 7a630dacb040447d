"""Helpers for the tracking-server tests: seeded programs and a running app on port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from bot.config import TrackingConfig
from bot.web import build_web_app
from commands.fraud_rules import FraudRules
from commands.invocation import Services
from storage import Database
from storage.affiliates import Affiliate
from storage.links import Link
from storage.programs import Commission, NewProgram, Program

EARLY = datetime(2026, 1, 1, tzinfo=UTC)
FAST = TrackingConfig(
    click_batch_size=1000, click_flush_seconds=60, link_cache_seconds=0, click_writer="inline"
)


@dataclass(frozen=True)
class Seeded:
    program: Program
    affiliate: Affiliate
    link: Link


async def seed(
    database: Database,
    *,
    slug: str = "shop",
    user: str = "alice",
    destination: str = "https://shop.example/landing?lang=en",
    fallback: str | None = None,
    commission: Commission | None = None,
    currency: str = "USD",
    recurring_months: int = 0,
    campaign: str = "",
    postback: dict[str, Any] | None = None,
) -> Seeded:
    """A program (created if new) with one approved affiliate and their link."""
    async with database.transaction() as store:
        program = await store.programs.by_slug(slug)
        if program is None:
            program = await store.programs.add(
                NewProgram(
                    slug=slug,
                    name=slug.title(),
                    destination_url=destination,
                    currency=currency,
                    commission=commission or Commission("percent", 1000, currency, EARLY),
                    fallback_url=fallback,
                    recurring_months=recurring_months,
                ),
                now=EARLY,
                actor="test",
            )
            settings = {"postback": {"auth": "token", "secret": "s3cret", **(postback or {})}}
            await store.program_settings.replace_settings(program.id, settings, now=EARLY)
            program = await store.programs.get(program.id)
            assert program is not None
        affiliate = await store.affiliates.ensure_for_identity("console", user, user, now=EARLY)
        await store.affiliates.join(affiliate.id, program.id, "approved", now=EARLY)
        link = await store.links.ensure(affiliate.id, program.id, campaign, now=EARLY)
    return Seeded(program, affiliate, link)


@asynccontextmanager
async def running(
    services: Services, config: TrackingConfig = FAST, fraud: FraudRules | None = None
) -> AsyncIterator[TestClient[Any, Any]]:
    """The real tracking app on 127.0.0.1 and an ephemeral port; flushed when left."""
    app = build_web_app(services, config, fraud)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
