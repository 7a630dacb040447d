"""Parsers for parameter values: each returns the clean value or raises ValueError."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
CAMPAIGN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_URL_LENGTH = 2000


def slug(text: str) -> str:
    """A program slug: 2–32 of ``a-z 0-9 -``, starting with a letter or digit."""
    lowered = text.lower()
    if not SLUG.match(lowered):
        raise ValueError(
            f"{text!r} is not a valid program name: use 2-32 letters, digits or dashes, "
            "like spring-sale"
        )
    return lowered


def campaign(text: str) -> str:
    if not CAMPAIGN.match(text):
        raise ValueError(f"{text!r} is not a valid campaign: use up to 64 letters, digits, _ or -")
    return text


def destination_url(text: str) -> str:
    """A URL a manager may send visitors to: http(s), a host, no credentials.

    The redirect only ever goes to a URL that passed this check, so the tracking server
    cannot be used as an open redirect.
    """
    if len(text) > MAX_URL_LENGTH:
        raise ValueError(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(char.isspace() for char in text):
        raise ValueError("a URL cannot contain spaces")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(f"{text!r} is not a valid URL") from None
    del port
    if parts.scheme.lower() not in {"http", "https"}:
        raise ValueError("the URL must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("the URL has no host name")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the URL must not contain a user name or password")
    return text
