"""Postback authentication, one scheme per program.

- ``token``: a secret in the query string (``?token=…``) or in the form or JSON body's
  ``token`` field, compared in constant time.
- ``hmac``: a hex HMAC-SHA256 of the raw body in a header (``X-Signature`` unless the
  program names another), as Dub or Rewardful send it; ``sha256=`` prefixes are accepted.
- ``standard-webhooks``: the Standard Webhooks headers ``webhook-id``,
  ``webhook-timestamp`` and ``webhook-signature`` (``v1,<base64>`` entries, several during
  a secret rotation) over ``id.timestamp.body``, with a 5-minute timestamp tolerance.

A program may keep a previous secret during its own rotation; either one is accepted.
With ``hmac`` and ``standard-webhooks`` only the signed body is read for conversion fields.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

from commands.core.text import problem
from commands.tracking.postback_fields import ConversionRejected, PostbackAuth

TOLERANCE_SECONDS = 5 * 60
MAX_TIMESTAMP_DIGITS = 12  # Unix seconds until the year 33658
# Several signatures during a rotation are a few hundred characters; a token is shorter.
MAX_HEADER_LENGTH = 4096


def verify(
    auth: PostbackAuth,
    fields: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
) -> None:
    """Raise ``ConversionRejected`` (401) unless the request proves it knows a secret.

    ``fields`` are the query's and the body's (the token scheme reads ``token`` there).
    Every header and token is checked as text (``commands.core.text``) before it is
    encoded or converted: bytes that are not UTF-8 are a 401 naming the header.
    """
    if not auth.secrets:
        raise ConversionRejected(
            "token",
            "this program has no postback secret yet; a manager gets one with /program postback",
            401,
        )
    if auth.mode == "token":
        _verify_token(auth, fields)
    elif auth.mode == "hmac":
        _verify_hmac(auth, headers, body)
    else:
        _verify_standard_webhooks(auth, headers, body, now)


def _verify_token(auth: PostbackAuth, fields: Mapping[str, str]) -> None:
    given = _header_text("token", fields.get("token", ""))
    if not given:
        raise ConversionRejected("token", "token is required", 401)
    if not any(_same(given.encode(), secret.encode()) for secret in auth.secrets):
        raise ConversionRejected("token", "token is wrong", 401)


def _verify_hmac(auth: PostbackAuth, headers: Mapping[str, str], body: bytes) -> None:
    field = auth.header.lower()
    given = _header_text(field, headers.get(auth.header, ""))
    given = given.strip().lower().removeprefix("sha256=")
    if not given:
        raise ConversionRejected(field, f"the {auth.header} header is required", 401)
    for secret in auth.secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if _same(given.encode(), expected.encode()):
            return
    raise ConversionRejected(field, f"the {auth.header} signature does not match the body", 401)


def _verify_standard_webhooks(
    auth: PostbackAuth, headers: Mapping[str, str], body: bytes, now: datetime
) -> None:
    message_id = _header_text("webhook-id", headers.get("webhook-id", ""))
    timestamp = _header_text("webhook-timestamp", headers.get("webhook-timestamp", ""))
    signatures = _header_text("webhook-signature", headers.get("webhook-signature", ""))
    for name, value in (
        ("webhook-id", message_id),
        ("webhook-timestamp", timestamp),
        ("webhook-signature", signatures),
    ):
        if not value:
            raise ConversionRejected(name, f"the {name} header is required", 401)
    # ASCII digits only ("²" is a digit to str.isdigit and not to int), and few enough to
    # stay a float: a 400-digit timestamp overflowed the tolerance check.
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > MAX_TIMESTAMP_DIGITS:
        raise ConversionRejected(
            "webhook-timestamp", "webhook-timestamp is not a Unix time in seconds", 401
        )
    if abs(now.timestamp() - int(timestamp)) > TOLERANCE_SECONDS:
        raise ConversionRejected(
            "webhook-timestamp", "webhook-timestamp is outside the 5-minute tolerance", 401
        )
    signed = f"{message_id}.{timestamp}.".encode() + body
    given = [
        entry.split(",", 1)[1].encode()
        for entry in signatures.split()
        if entry.startswith("v1,") and "," in entry
    ]
    for secret in auth.secrets:
        expected = base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest())
        if any(_same(candidate, expected) for candidate in given):
            return
    raise ConversionRejected("webhook-signature", "no webhook-signature matches", 401)


def _header_text(name: str, value: str) -> str:
    """``value`` when it is text, else a 401 naming ``name`` (aiohttp keeps header bytes
    that are not UTF-8 as surrogates, which cannot be encoded to compare)."""
    reason = problem(value, MAX_HEADER_LENGTH)
    if reason is not None:
        raise ConversionRejected(name, f"{name} {reason}", 401)
    return value


def _key(secret: str) -> bytes:
    """A Standard Webhooks secret is ``whsec_`` plus base64; anything else is used as is."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            pass
    return secret.encode()


def _same(given: bytes, expected: bytes) -> bool:
    return hmac.compare_digest(given, expected)
