"""The tracking server's aiohttp application: routes and lifecycle.

The click buffer starts with the app and is flushed in its cleanup, which
``AppRunner.cleanup()`` runs when ``affbot run`` stops on SIGINT/SIGTERM, so no counted
click is lost on a graceful stop.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.config import TrackingConfig
from bot.web.link_check import link_check
from bot.web.pages import NO_STORE
from bot.web.postbacks import postback
from bot.web.rate_limit import LIMITS, Limits, RateLimiter
from bot.web.redirects import redirect
from bot.web.state import TRACKING, TrackingState
from commands.core.invocation import Services
from commands.tracking import TrackingRules

log = logging.getLogger(__name__)

SERVICES = web.AppKey("services", Services)
# aiohttp's own limit sits above ours so an oversized body reaches our JSON 413 answer.
_AIOHTTP_BODY_SLACK = 1024


def build_web_app(
    services: Services, config: TrackingConfig | None = None, rules: TrackingRules | None = None
) -> web.Application:
    """The app for ``web.host:web.port``: ``/r/{code}``, ``/postback``, health, metrics.

    ``rules`` come from the composition root (``bot.app.tracking_rules``); without them
    conversions are judged by the defaults (UTC, no announcement chats).
    """
    tracking_config = config or TrackingConfig()
    app = web.Application(
        client_max_size=tracking_config.max_body_bytes + _AIOHTTP_BODY_SLACK,
    )
    app[LIMITS] = Limits(
        redirects=RateLimiter(
            tracking_config.redirects_per_minute, tracking_config.redirect_burst
        ),
        postbacks=RateLimiter(
            tracking_config.postbacks_per_minute, tracking_config.postback_burst
        ),
    )
    app[SERVICES] = services
    app[TRACKING] = TrackingState.build(services, tracking_config, rules or TrackingRules())
    app.router.add_get("/r/{code}", redirect)
    app.router.add_get("/r/{code}/check", link_check)
    app.router.add_route("GET", "/postback", postback)
    app.router.add_route("POST", "/postback", postback)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.cleanup_ctx.append(_tracking_lifecycle)
    return app


async def _tracking_lifecycle(app: web.Application) -> AsyncIterator[None]:
    tracking = app[TRACKING]
    await tracking.open()
    yield
    await tracking.close()


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers, 503 otherwise (for load balancers and monitors)."""
    try:
        await request.app[SERVICES].database.ping()
    except Exception:
        log.exception("health check: database unreachable")
        return web.json_response(
            {"status": "error", "database": "unreachable"}, status=503, headers=NO_STORE
        )
    depth = request.app[TRACKING].buffer.depth()
    return web.json_response({"status": "ok", "click_buffer": depth}, headers=NO_STORE)


async def metrics(request: web.Request) -> web.Response:
    """This server's counters in the Prometheus text format."""
    body = request.app[TRACKING].metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST, **NO_STORE})
