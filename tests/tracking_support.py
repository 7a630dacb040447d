"""Helpers for the tracking-server tests: seeded programs and a running app on port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from bot.config import TrackingConfig
from bot.web import build_web_app
from commands.core.invocation import Services
from commands.fraud import FraudRules
from commands.tracking import TrackingRules
from storage import Database
from storage.affiliates import Affiliate
from storage.links import Link
from storage.programs import Commission, NewProgram, Program

EARLY = datetime(2026, 1, 1, tzinfo=UTC)
FAST = TrackingConfig(
    click_batch_size=1000, click_flush_seconds=60, link_cache_seconds=0, click_writer="inline"
)

# A client of a real TestServer, so ``client.app`` is the tracking app itself.
TrackingClient = TestClient[web.Request, web.Application]


@dataclass(frozen=True)
class Scraped:
    """One ``/metrics`` body as a Prometheus scraper reads it: samples by name and labels."""

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]
    types: dict[str, str]

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; a ``KeyError`` when the body has no such sample."""
        return self.samples[name, frozenset(labels.items())]


async def scrape(client: TestClient[Any, Any]) -> Scraped:
    """``GET /metrics`` over HTTP, parsed with ``prometheus_client``'s own parser."""
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
    families = list(text_string_to_metric_families(await response.text()))
    return Scraped(
        samples={
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in families
            for sample in family.samples
        },
        types={family.name: family.type for family in families},
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


def rules_for(
    services: Services, config: TrackingConfig = FAST, fraud: FraudRules | None = None
) -> TrackingRules:
    """The rules ``bot.app.tracking_rules`` would build for these settings and config."""
    return TrackingRules(
        zone=services.settings.timezone,
        alert_percents=tuple(config.cap_alert_percents),
        rewards=services.settings.rewards,
        fraud=fraud or FraudRules(),
        announce_targets=services.settings.announce_targets,
    )


@asynccontextmanager
async def running(
    services: Services, config: TrackingConfig = FAST, fraud: FraudRules | None = None
) -> AsyncIterator[TrackingClient]:
    """The real tracking app on 127.0.0.1 and an ephemeral port; flushed when left."""
    app = build_web_app(services, config, rules_for(services, config, fraud))
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
