"""``GET /r/{code}``: the referral redirect, and the click it records.

The Location is always built from a URL a manager configured (validated when set); the
query string of the request is never copied into it, so the server is no open redirect.
Clicks go to the in-memory buffer; the response never waits for the database.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from aiohttp import web

from bot.web.pages import NO_STORE, page
from bot.web.rate_limit import LIMITS, refused
from bot.web.routes import RouteKind
from bot.web.state import TRACKING
from bot.web.visitors import classify, hash_ip, hash_network, referer_host
from storage.clicks import NewClick, new_click_id
from storage.links import LinkTarget

log = logging.getLogger(__name__)

PLACEHOLDERS = ("{click_id}", "{code}", "{affiliate}", "{campaign}")
MAX_CODE_LENGTH = 32


async def redirect(request: web.Request) -> web.StreamResponse:
    """302 to the program's destination with a fresh click id (or to its fallback)."""
    if (limited := refused(request, request.app[LIMITS].redirects, postback=False)) is not None:
        return limited
    tracking = request.app[TRACKING]
    metrics = tracking.metrics
    code = request.match_info["code"]
    if len(code) > MAX_CODE_LENGTH:
        metrics.redirects["unknown"] += 1
        return page(404, "Link not found", "This referral link does not exist.")
    now = tracking.clock()
    route = tracking.routes.cached(code) or await tracking.routes.route(code, now)
    if route.kind is RouteKind.UNKNOWN or route.target is None:
        metrics.redirects["unknown"] += 1
        return page(404, "Link not found", "This referral link does not exist.")
    if route.kind is not RouteKind.DESTINATION:
        log.debug("code %s: %s (%s)", code, route.kind, route.reason)
    if route.kind is RouteKind.GONE:
        metrics.redirects["gone"] += 1
        return page(410, "Offer not available", "This offer is not available right now.")
    if route.kind is RouteKind.FALLBACK:
        metrics.redirects["fallback"] += 1
        return _found(route.target.fallback_url or "")
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
        tracking.buffer.add(
            NewClick(
                click_id=click_id,
                link_id=route.target.link.id,
                occurred_at=now,
                ip_hash=hash_ip(tracking.salt, address),
                user_agent_family=family,
                referer_host=referer_host(request.headers.get("Referer")),
                net_hash=hash_network(tracking.salt, address),
            )
        )
    metrics.redirects["destination"] += 1
    return _found(destination(route.target, click_id))


def destination(target: LinkTarget, click_id: str) -> str:
    """Fill the program's destination template for one click.

    ``{click_id}``, ``{code}``, ``{affiliate}`` and ``{campaign}`` are replaced (URL-encoded);
    a template without any of them gets ``click_id`` and ``ref`` query parameters appended
    to the query it already has.
    """
    template = target.destination_url
    if not any(placeholder in template for placeholder in PLACEHOLDERS):
        base, separator, fragment = _split_fragment(template)
        code = target.link.code
        ref = code if code.isalnum() else quote(code, safe="")  # codes are alphanumeric
        return f"{base}{separator}click_id={click_id}&ref={ref}{fragment}"
    values = {
        "{click_id}": click_id,
        "{code}": target.link.code,
        "{affiliate}": str(target.link.affiliate_id),
        "{campaign}": target.link.campaign,
    }
    for placeholder, value in values.items():
        template = template.replace(placeholder, quote(value, safe=""))
    return template


@lru_cache(maxsize=4096)
def _split_fragment(url: str) -> tuple[str, str, str]:
    """(URL before any fragment, ``?`` or ``&`` to add parameters with, ``#fragment``)."""
    parts = urlsplit(url)
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    base = urlunsplit(parts._replace(fragment=""))
    if not parts.query:
        return base.rstrip("?"), "?", fragment
    return base, "&", fragment


def with_query(url: str, extra: dict[str, str]) -> str:
    """Append parameters to a URL, keeping the query it already has."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query.extend(extra.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _found(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location, **NO_STORE})
