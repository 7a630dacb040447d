"""The few responses the tracking server writes itself: small HTML pages and JSON errors."""

from __future__ import annotations

import html
from typing import Any

from aiohttp import web

NO_STORE = {"Cache-Control": "no-store"}


def page(status: int, title: str, message: str) -> web.Response:
    """A minimal HTML page for people who followed a link (404, 410)."""
    body = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>"
    )
    return web.Response(status=status, text=body, content_type="text/html", headers=NO_STORE)


def json_error(status: int, field: str, message: str) -> web.Response:
    """A JSON error naming the field at fault, for networks' postback logs."""
    return json_body(status, {"ok": False, "field": field, "error": message})


def json_body(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status, headers=NO_STORE)
