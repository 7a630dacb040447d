"""``GET``/``POST /postback``: conversions reported server to server by networks and shops.

Fields come from the query string, a form body or a JSON body (or its ``data`` object,
as Standard Webhooks payloads nest it). The program is found from ``program``,
the click or the code; its auth scheme is checked before anything is recorded; the
conversion is committed before the 200 goes out. Every refusal is a 4xx JSON body naming
the field, and no exception ever reaches the network as a traceback.
"""

from __future__ import annotations

import json
import logging
import secrets
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from bot.web.pages import json_body, json_error
from bot.web.postback_auth import verify
from bot.web.rate_limit import LIMITS, refused
from bot.web.state import TRACKING
from commands.tracking.conversions import find_program, record_conversion
from commands.tracking.postback_fields import (
    ConversionRejected,
    attribution_fields,
    auth_of,
    normalise,
    postback_settings,
)

log = logging.getLogger(__name__)

FORM = "application/x-www-form-urlencoded"


async def postback(request: web.Request) -> web.Response:
    if (limited := refused(request, request.app[LIMITS].postbacks, postback=True)) is not None:
        return limited  # before the body is read: a flood costs no parsing
    tracking = request.app[TRACKING]
    metrics = tracking.metrics
    try:
        body = await _read_body(request, tracking.config.max_body_bytes)
        query = {key: request.query.getone(key) for key in request.query}
        from_body = _body_fields(request.content_type, body)
        located = attribution_fields({**query, **from_body})
        click_id = located.get("click_id")
        if click_id is not None and tracking.buffer.holds(click_id):
            await tracking.buffer.flush()  # the click is younger than the last batch
        program = await find_program(tracking.services.database, located)
        settings = postback_settings(program)
        auth = auth_of(settings)
        now = tracking.clock()
        # A token may come in the query or in the body's fields (the query wins);
        # the signing schemes read only their headers and the raw body.
        verify(auth, {**from_body, **query}, request.headers, body, now)
        raw = from_body if auth.signs_body else {**query, **from_body}
        fields = normalise(raw, settings.get("fields") or {})
        async with tracking.writer:
            outcome = await record_conversion(
                tracking.services.database, program, fields, now=now, rules=tracking.rules
            )
    except ConversionRejected as rejected:
        metrics.postbacks[f"rejected_{rejected.status}"] += 1
        log.info("postback refused (%s): %s: %s", rejected.status, rejected.field, rejected)
        return json_error(rejected.status, rejected.field, rejected.message)
    except Exception:
        error_id = secrets.token_hex(4)
        metrics.postbacks["error"] += 1
        log.exception("postback error %s", error_id)
        return json_error(
            500, "server", f"internal error {error_id}; nothing was recorded, please retry"
        )
    metrics.postbacks[outcome.result] += 1
    return json_body(200, outcome.body)


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The raw body (signatures are over exact bytes), refused past ``limit`` bytes."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise ConversionRejected("body", f"the body is larger than {limit} bytes", 413)
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > limit:
            raise ConversionRejected("body", f"the body is larger than {limit} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def _body_fields(content_type: str, body: bytes) -> dict[str, str]:
    if not body.strip():
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ConversionRejected("body", "the body is not UTF-8") from None
    if content_type == FORM:
        # A repeated name keeps its first value, as request.query.getone does.
        return dict(reversed(parse_qsl(text, keep_blank_values=True)))
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            document = json.loads(text, parse_float=Decimal)
        except RecursionError:  # [[[[…]]]] thousands deep: nothing a network sends
            raise ConversionRejected("body", "the JSON body is nested too deeply") from None
        except ValueError:
            raise ConversionRejected("body", "the body is not valid JSON") from None
        if not isinstance(document, dict):
            raise ConversionRejected("body", "the JSON body must be an object")
        return _flatten(document)
    raise ConversionRejected(
        "body", f"send JSON or a form, not {content_type or 'an untyped body'}", 415
    )


def _flatten(document: dict[str, Any]) -> dict[str, str]:
    """The scalar fields of the object, or of its ``data`` object when it is an envelope.

    Standard Webhooks payloads wrap the event as ``{"type", "timestamp", "data"}``; the
    envelope's ``type`` and ``timestamp`` describe the delivery, not the conversion.
    """
    nested = document.get("data")
    source = nested if isinstance(nested, dict) else document
    fields: dict[str, str] = {}
    for key, value in source.items():
        if value is None or isinstance(value, dict | list):
            continue
        if isinstance(value, bool):
            fields[key] = "true" if value else "false"
        else:
            fields[key] = str(value)
    return fields
