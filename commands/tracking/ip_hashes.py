"""Salted IP hashes and link check tokens: one definition for every process that needs them.

The tracking server hashes visitors (clicks) and affiliates (their link's check page), the
postback path and the CSV importer hash a customer IP a network reported, and ``/link``
signs the private check URL. They must all use the same salt, or nothing would ever match:
the configured ``tracking.ip_hash_salt`` when there is one, else the value this installation
generated once and keeps in ``instance_settings``. No address is ever stored, only hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from datetime import datetime

from storage import Database, Store

SALT_KEY = "ip_hash_salt"
CHECK_TOKEN_LENGTH = 32  # hex characters: 128 bits of HMAC-SHA256


async def settle_salt(store: Store, override: str | None, *, now: datetime) -> str:
    """The instance's IP hash salt: ``override`` (config) when set, else the stored one.

    The first process to ask generates and stores it; concurrent first callers read back
    the same value (the instance table keeps the first insert).
    """
    if override:
        return override
    return await store.instance.get_or_create(SALT_KEY, secrets.token_hex(32), now=now)


async def instance_salt(database: Database, override: str | None, *, now: datetime) -> str:
    """:func:`settle_salt` in a transaction of its own (start-up of a server or an import)."""
    if override:
        return override
    async with database.transaction() as store:
        return await settle_salt(store, None, now=now)


def hash_address(salt: str, address: str) -> str:
    """The salted SHA-256 of an address, hex (64 characters).

    The one visitor hash: clicks (``bot.web.visitors.hash_ip`` is this function),
    sightings and customer IPs all use it, so one address always matches itself.
    """
    return hashlib.sha256(f"{salt}\x00{address}".encode()).hexdigest()


def canonical_address(text: str) -> str | None:
    """The address in its canonical text form, or ``None`` when it is not an IP address.

    ``2001:DB8::0001`` and ``2001:db8::1`` are one address, and an IPv4 address a network
    wrote in IPv6-mapped form (``::ffff:203.0.113.5``) is the IPv4 address, so they hash
    alike.
    """
    try:
        parsed = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(parsed)


def check_token(salt: str, code: str) -> str:
    """The token that opens ``/r/<code>/check``: HMAC-SHA256 of ``check:<code>`` keyed
    with the salt, so only someone who was given the URL (the link's owner) can open it."""
    digest = hmac.new(salt.encode(), f"check:{code}".encode(), hashlib.sha256).hexdigest()
    return digest[:CHECK_TOKEN_LENGTH]


def check_token_matches(salt: str, code: str, token: str) -> bool:
    """Whether ``token`` is the check token for ``code`` (compared in constant time)."""
    return hmac.compare_digest(check_token(salt, code).encode(), token.encode())
