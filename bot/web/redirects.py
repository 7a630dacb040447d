"""``GET /r/{code}``: the referral redirect, and the click it records.

The Location is always built from a URL a manager configured (validated when set); the
query string of the request is never copied into it, so the server is no open redirect.
Clicks go to the in-memory buffer; the response waits only when the click writer has fallen
behind (``ClickBuffer.behind``), which bounds what a crash can lose.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from aiohttp import web

from bot.web.click_batches import visit_row
from bot.web.pages import NO_STORE, page
from bot.web.rate_limit import LIMITS, refused
from bot.web.routes import RouteKind, around_click_id, plain_destination
from bot.web.state import TRACKING
from bot.web.visitors import classify, referer_host
from commands.core.text import problem
from storage.clicks import new_click_id
from storage.links import LinkTarget

log = logging.getLogger(__name__)

MAX_CODE_LENGTH = 32


async def redirect(request: web.Request) -> web.StreamResponse:
    """302 to the program's destination with a fresh click id; uncounted to its fallback,
    or to its plain page while it is paused without one."""
    if (limited := refused(request, request.app[LIMITS].redirects, postback=False)) is not None:
        return limited
    tracking = request.app[TRACKING]
    metrics = tracking.metrics
    code = request.match_info["code"]
    if not plausible_code(code):
        metrics.redirects["unknown"] += 1
        return page(404, "Link not found", "This referral link does not exist.")
    now = tracking.clock()
    route = tracking.routes.cached(code, now) or await tracking.routes.route(code, now)
    if route.kind is RouteKind.UNKNOWN or route.target is None:
        metrics.redirects["unknown"] += 1
        return page(404, "Link not found", "This referral link does not exist.")
    if route.kind is not RouteKind.DESTINATION:
        log.debug("code %s: %s (%s)", code, route.kind, route.reason)
        metrics.redirects[route.kind.value] += 1
        return _elsewhere(route.kind, route.target)
    # Only a click waits for the click writer (see click_buffer): 404s and uncounted
    # redirects add nothing to its queue, so they are answered at once.
    if tracking.buffer.behind():
        await tracking.buffer.catch_up()
        now = tracking.clock()  # the click happens when it is answered
    click_id = new_click_id()
    user_agent = request.headers.get("User-Agent", "")
    preview_bot, family = classify(user_agent)
    if request.method != "GET":
        metrics.clicks["head"] += 1
    elif preview_bot:
        metrics.clicks["preview_bot"] += 1
    else:
        metrics.clicks["counted"] += 1
        address = tracking.client_address(request)
        referer = referer_host(request.headers.get("Referer"))
        tracking.buffer.add(
            visit_row(click_id, route.target.link.id, now, address, family, referer)
        )
    metrics.redirects["destination"] += 1
    around = route.around_click_id
    location = (
        around[0] + click_id + around[1]
        if around is not None
        else destination(route.target, click_id)
    )
    return _found(location)


def _elsewhere(kind: RouteKind, target: LinkTarget) -> web.Response:
    """Where a click that is not for the offer goes; none of these is counted."""
    if kind is RouteKind.FALLBACK:
        return _found(target.fallback_url or "")
    if kind is RouteKind.LANDING:
        return _found(plain_destination(target))
    return page(410, "Offer not available", "This offer is not available right now.")


def plausible_code(code: str) -> bool:
    """Whether ``code`` could be a link code at all, checked before any lookup.

    A path of NUL (``/r/%00``), of bytes that are not UTF-8 or of 10 kB is no code; it
    must get the same 404 as an unknown one, not reach the database (PostgreSQL refuses
    NUL in a query parameter, and a 500 would tell a scanner something).
    """
    return bool(code) and problem(code, MAX_CODE_LENGTH) is None


def destination(target: LinkTarget, click_id: str) -> str:
    """Fill the program's destination template for one click.

    ``{click_id}``, ``{code}``, ``{affiliate}`` and ``{campaign}`` are replaced (URL-encoded);
    a template without any of them gets ``click_id`` and ``ref`` query parameters appended
    to the query it already has.
    """
    around = around_click_id(target)
    if around is not None:
        return f"{around[0]}{click_id}{around[1]}"
    template = target.destination_url
    values = {
        "{click_id}": click_id,
        "{code}": target.link.code,
        "{affiliate}": str(target.link.affiliate_id),
        "{campaign}": target.link.campaign,
    }
    for placeholder, value in values.items():
        template = template.replace(placeholder, quote(value, safe=""))
    return template


def _found(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location, **NO_STORE})
