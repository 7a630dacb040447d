"""Webhook mode: Telegram posts updates to a path on the tracking server.

The route lives on the same aiohttp application as the tracking endpoints (one port, one
TLS terminator in front). Telegram sends the configured secret in a header with every
request; anything without it is refused before the body is read.
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp import web

if TYPE_CHECKING:
    from bot.adapters.telegram.adapter import TelegramAdapter

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name


def register_webhook_routes(app: web.Application, adapter: TelegramAdapter) -> None:
    """Serve ``POST <path of telegram.webhook_url>`` on ``app`` (before it starts)."""
    url = adapter.config.webhook_url
    secret = adapter.config.webhook_secret
    if url is None or secret is None:
        raise ValueError("webhook mode needs telegram.webhook_url and telegram.webhook_secret")
    expected = secret.get_secret_value().encode()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            log.warning("telegram webhook: refused a request without the secret")
            return web.json_response({"ok": False}, status=403)
        if not adapter.running:
            # Telegram retries later; nothing is lost while the adapter starts.
            return web.json_response({"ok": False}, status=503)
        try:
            data = await request.json()
        except ValueError:
            return web.json_response({"ok": False, "error": "not JSON"}, status=400)
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return web.json_response({"ok": False, "error": "not an update"}, status=400)
        await adapter.feed(data)
        return web.json_response({"ok": True})

    app.router.add_post(urlsplit(url).path, receive)
