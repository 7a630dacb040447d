"""The HTTP tracking server: referral redirects and a health check.

The foundation serves ``/r/{code}`` (302 to the program's destination, or the fallback) and
``/healthz``; click logging, postbacks and metrics arrive with the tracking-server issue.
"""

from __future__ import annotations

import html
import logging
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiohttp import web

from commands.invocation import Services

log = logging.getLogger(__name__)

SERVICES = web.AppKey("services", Services)
_NO_STORE = {"Cache-Control": "no-store"}


def build_web_app(services: Services) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    app[SERVICES] = services
    app.router.add_get("/r/{code}", redirect)
    app.router.add_get("/healthz", healthz)
    return app


async def redirect(request: web.Request) -> web.StreamResponse:
    """302 to the configured destination; the URL comes from the database, never the query."""
    services = request.app[SERVICES]
    code = request.match_info["code"]
    if len(code) > 32:
        return _page(404, "Link not found", "This referral link does not exist.")
    async with services.database.read() as store:
        target = await store.links.target(code)
    if target is None:
        return _page(404, "Link not found", "This referral link does not exist.")
    if target.program_status != "active" or target.affiliate_status != "active":
        if target.fallback_url:
            raise web.HTTPFound(target.fallback_url, headers=_NO_STORE)
        return _page(410, "Offer ended", "This offer is not available right now.")
    click_id = uuid.uuid4().hex
    location = with_query(target.destination_url, {"click_id": click_id, "ref": code})
    raise web.HTTPFound(location, headers=_NO_STORE)


async def healthz(request: web.Request) -> web.Response:
    try:
        await request.app[SERVICES].database.ping()
    except Exception:
        log.exception("health check: database unreachable")
        return web.json_response({"status": "error", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok"})


def with_query(url: str, extra: dict[str, str]) -> str:
    """Append parameters to a URL, keeping the query it already has."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query.extend(extra.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _page(status: int, title: str, message: str) -> web.Response:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>"
    )
    return web.Response(status=status, text=body, content_type="text/html", headers=_NO_STORE)
