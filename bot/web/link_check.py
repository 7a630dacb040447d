"""``GET /r/{code}/check?t=<token>``: a link's owner checks it, and is seen doing so.

``/link`` gives each affiliate a private check URL signed for their code
(``commands.tracking.ip_hashes.check_token``). Opening it shows whether the link works
right now and where it leads, without redirecting or counting a click, and records the
salted hash of the address it was opened from as the affiliate's own
(``affiliate_sightings``): the one honest way the bot learns where an affiliate is, which
the ``self-ip`` fraud rule needs.

A wrong or missing token gets the same 404 as an unknown code and records nothing; link
preview fetchers get the page but are not recorded (they are not the affiliate). Every
value on the page is HTML-escaped, and the only links on it are the program's configured
destination and fallback (never a URL from the request, never a click id).
"""

from __future__ import annotations

import html
import logging

from aiohttp import web

from bot.web.pages import NO_STORE, page
from bot.web.rate_limit import LIMITS, refused
from bot.web.redirects import plausible_code
from bot.web.routes import Route, RouteKind, plain_destination
from bot.web.state import TRACKING
from bot.web.visitors import classify, hash_ip
from commands.core.text import problem
from commands.tracking.ip_hashes import check_token_matches
from storage.links import LinkTarget

log = logging.getLogger(__name__)

MAX_TOKEN_LENGTH = 128  # a check token is 64 hex digits; a longer one is wrong unread
# The token is in the page's own URL: the destination must not receive it as a Referer.
_HEADERS = {**NO_STORE, "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


async def link_check(request: web.Request) -> web.StreamResponse:
    """The check page for the link's owner; see the module docstring."""
    if (limited := refused(request, request.app[LIMITS].redirects, postback=False)) is not None:
        return limited  # the same per-address budget as the redirects beside it
    tracking = request.app[TRACKING]
    code = request.match_info["code"]
    token = request.query.get("t", "")
    if (
        not plausible_code(code)
        or problem(token, MAX_TOKEN_LENGTH) is not None
        or not check_token_matches(tracking.salt, code, token)
    ):
        return _not_found()
    now = tracking.clock()
    route = await tracking.routes.route(code, now)
    if route.kind is RouteKind.UNKNOWN or route.target is None:
        return _not_found()
    preview_bot, _ = classify(request.headers.get("User-Agent", ""))
    recorded = True
    if request.method == "GET" and not preview_bot:
        ip_hash = hash_ip(tracking.salt, tracking.client_address(request))
        try:
            async with tracking.writer, tracking.services.database.transaction() as store:
                await store.sightings.record(route.target.link.affiliate_id, ip_hash, now=now)
        except Exception:
            log.exception("link check: could not record the sighting for code %s", code)
            recorded = False
    body = render(route, route.target, recorded=recorded)
    return web.Response(text=body, content_type="text/html", headers=_HEADERS)


def render(route: Route, target: LinkTarget, *, recorded: bool) -> str:
    """The page: the link's state in words, where it leads, and what opening it did."""
    reason = html.escape(route.reason)
    if route.kind is RouteKind.DESTINATION:
        state = "Your link works: visitors go to the program's page, and their clicks count."
    elif route.kind is RouteKind.FALLBACK:
        fallback = _anchor(target.fallback_url or "")
        state = (
            f"Your link works, but not for the offer right now ({reason}): visitors are sent "
            f"to the program's fallback page {fallback}, and those visits do not count."
        )
    elif route.kind is RouteKind.LANDING:
        landing = _anchor(plain_destination(target))
        state = (
            f"Your link works, but not for the offer right now ({reason}): visitors are sent "
            f"to the program's page {landing}, and those visits do not count."
        )
    else:
        state = (
            f"Your link is not sending visitors anywhere right now ({reason}): they see "
            "&ldquo;This offer is not available&rdquo;."
        )
    if recorded:
        own = (
            "Visits and purchases from this device through your own link are recognised as "
            "your own, not as a customer's. Only a one-way hash of this device's network "
            "address is kept, never the address."
        )
    else:
        own = "This device could not be remembered just now; open this page again later."
    code = html.escape(target.link.code)
    slug = html.escape(target.program_slug)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='robots' content='noindex'><meta name='referrer' content='no-referrer'>"
        f"<title>Link check: {code}</title></head><body>"
        f"<h1>Your link {code} ({slug})</h1>"
        f"<p>{state}</p>"
        f"<p>The program's page: {_anchor(plain_destination(target))}</p>"
        "<p>Opening this page is not a click and is not counted.</p>"
        f"<p>{own}</p>"
        "<p>Keep this page's address to yourself.</p>"
        "</body></html>"
    )


def _anchor(url: str) -> str:
    escaped = html.escape(url, quote=True)
    return f"<a href=\"{escaped}\" rel='noreferrer noopener'>{escaped}</a>"


def _not_found() -> web.Response:
    return page(404, "Link not found", "This referral link does not exist.")
