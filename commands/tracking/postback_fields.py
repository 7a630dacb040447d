"""Conversion input as networks send it: field aliases, program mappings and validation.

Postbacks and CSV rows arrive with each network's own names (``clickid``, ``order_id``,
``payout``) and status values (``1``, ``rejected``). This module turns such a flat mapping
into one validated :class:`ConversionInput`, or raises :class:`ConversionRejected` naming
the field, so the postback and the importer apply exactly the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, cast

from commands.core.money import check_currency, to_minor
from commands.core.text import problem
from commands.tracking.ip_hashes import canonical_address, hash_address
from storage.conversions import ConversionKind, ConversionStatus
from storage.programs import Program

# Our name → the names networks commonly use for it, in order of preference.
ALIASES: dict[str, tuple[str, ...]] = {
    "program": ("program", "program_slug"),
    "click_id": ("click_id", "clickid", "subid", "sub_id", "aff_sub", "cid", "click"),
    "code": ("code", "ref", "referral_code", "ref_code", "affiliate_code"),
    "txn_id": (
        "txn_id",
        "transaction_id",
        "transactionid",
        "txid",
        "order_id",
        "orderid",
        "conversion_id",
    ),
    "amount": ("amount", "sale_amount", "payout", "revenue", "order_total", "total", "value"),
    "currency": ("currency", "currency_code", "cur"),
    "status": ("status", "conversion_status", "state"),
    "occurred_at": ("occurred_at", "timestamp", "conversion_time", "event_time", "created_at"),
    "customer_id": ("customer_id", "customerid", "customer", "user_id", "userid"),
    "customer_ip": (
        "customer_ip",
        "ip",
        "user_ip",
        "client_ip",
        "ip_address",
        "customer_ip_address",
    ),
    "kind": ("kind", "type", "conversion_type", "event"),
}
STATUS_WORDS: dict[str, ConversionStatus] = {
    **dict.fromkeys(("pending", "open", "new", "hold", "on_hold", "waiting"), "pending"),
    **dict.fromkeys(("approved", "approve", "confirmed", "accepted", "valid"), "approved"),
    **dict.fromkeys(("paid", "settled", "payout"), "paid"),
    **dict.fromkeys(
        (
            "reversed",
            "reverse",
            "rejected",
            "declined",
            "cancelled",
            "canceled",
            "refunded",
            "refund",
            "chargeback",
            "void",
            "invalid",
        ),
        "reversed",
    ),
}
KINDS: tuple[ConversionKind, ...] = ("sale", "lead", "signup")
KIND_WORDS: dict[str, ConversionKind] = {
    "sale": "sale",
    "purchase": "sale",
    "order": "sale",
    "lead": "lead",
    "signup": "signup",
    "sign_up": "signup",
    "registration": "signup",
}
MAX_TEXT = 128
# The most characters each field may have, checked (with valid UTF-8 and no control
# characters) before anything is converted or looked up: a value is stored, compared in a
# query or parsed only once it fits. Generous for every real network's values.
FIELD_LIMITS: dict[str, int] = {
    "program": 32,  # a slug
    "click_id": 32,
    "code": 32,
    "txn_id": MAX_TEXT,
    "amount": 40,
    "currency": 16,
    "status": 64,
    "occurred_at": 64,
    "customer_id": MAX_TEXT,
    "customer_ip": 64,
    "kind": 32,
}
CLICK_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
FUTURE_TOLERANCE = timedelta(hours=1)
# Conversions before the Unix epoch are a sender's bug (``0001-01-01`` is a null date);
# refusing them also keeps every later conversion of time zones inside datetime's range.
# Compared with the wall time as sent (read as UTC): a day past the epoch leaves room for
# any offset, so converting the time to UTC afterwards cannot leave datetime's range.
EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)


class ConversionRejected(Exception):
    """Bad conversion input: ``field`` names what was wrong, ``status`` is the HTTP status."""

    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status

    def body(self) -> dict[str, Any]:
        return {"ok": False, "field": self.field, "error": self.message}


@dataclass(frozen=True, slots=True)
class ConversionInput:
    """A validated conversion, in our names and units."""

    txn_id: str
    amount_minor: int | None  # None: not given (fine for a status change or a lead)
    currency: str
    status: ConversionStatus
    kind: ConversionKind
    occurred_at: datetime
    click_id: str | None
    code: str | None
    customer_id: str | None
    # The customer's IP, salted and hashed as soon as it is validated: the address itself
    # goes no further than this module.
    customer_ip_hash: str | None = None


AuthMode = Literal["token", "hmac", "standard-webhooks"]
AUTH_MODES: tuple[AuthMode, ...] = ("token", "hmac", "standard-webhooks")
DEFAULT_HEADER = "X-Signature"


@dataclass(frozen=True, slots=True)
class PostbackAuth:
    mode: AuthMode
    secrets: tuple[str, ...]
    header: str

    @property
    def signs_body(self) -> bool:
        return self.mode != "token"


def auth_of(settings: Mapping[str, Any]) -> PostbackAuth:
    """The auth settings in a program's ``postback`` settings document."""
    mode = settings.get("auth", "token")
    if mode not in AUTH_MODES:
        mode = "token"
    configured = [settings.get("secret"), settings.get("previous_secret")]
    return PostbackAuth(
        mode=mode,
        secrets=tuple(secret for secret in configured if isinstance(secret, str) and secret),
        header=str(settings.get("header") or DEFAULT_HEADER),
    )


def postback_settings(program: Program) -> dict[str, Any]:
    """The program's ``postback`` settings document (empty when never configured)."""
    settings = program.settings.get("postback")
    return dict(settings) if isinstance(settings, dict) else {}


def normalise(
    raw: Mapping[str, str], field_map: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Pick our fields out of a network's flat mapping.

    A program's own name for a field (``field_map``: ours → theirs) wins over the common
    aliases; names match case-insensitively and empty values count as absent.
    """
    lowered = {key.strip().lower(): value for key, value in raw.items()}
    fields: dict[str, str] = {}
    for ours, aliases in ALIASES.items():
        names = aliases
        if field_map and field_map.get(ours):
            names = (field_map[ours].lower(), *aliases)
        for name in names:
            value = lowered.get(name)
            if value is not None and value.strip():
                fields[ours] = field_text(ours, value.strip())
                break
    return fields


def field_text(name: str, value: str) -> str:
    """``value`` when it is text the ``name`` field may hold (``commands.core.text``),
    else ``ConversionRejected`` naming the field: no NUL reaches PostgreSQL, no lone
    surrogate a driver, no megabyte a parser."""
    reason = problem(value, FIELD_LIMITS.get(name, MAX_TEXT))
    if reason is not None:
        raise ConversionRejected(name, f"{name} {reason}")
    return value


def attribution_fields(raw: Mapping[str, str]) -> dict[str, str]:
    """Only the fields that locate a program (before its own mapping is known)."""
    fields = normalise(raw)
    return {key: fields[key] for key in ("program", "click_id", "code") if key in fields}


def validate(
    fields: Mapping[str, str], program: Program, now: datetime, *, ip_salt: str = ""
) -> ConversionInput:
    """Check every field against the program and convert it.

    Args:
        ip_salt: the instance's IP hash salt (``commands.tracking.ip_hashes``); needed only when a
            ``customer_ip`` is given, which is hashed with it here and never kept raw.

    Raises:
        ConversionRejected: the first bad field, with a sentence for the network's logs.
    """
    settings = postback_settings(program)
    txn_id = _text(fields, "txn_id")
    if txn_id is None:
        raise ConversionRejected("txn_id", "txn_id is required")
    kind = _kind(fields.get("kind"))
    currency = _currency(fields.get("currency"), program)
    amount_text = fields.get("amount")
    amount_minor = None if amount_text is None else _amount(amount_text, currency)
    click_id = fields.get("click_id")
    if click_id is not None and not CLICK_ID.match(click_id):
        raise ConversionRejected("click_id", f"{click_id[:40]!r} is not a click id we issued")
    code = fields.get("code")
    if code is not None and len(code) > 32:
        raise ConversionRejected("code", "code is longer than any referral code")
    return ConversionInput(
        txn_id=txn_id,
        amount_minor=amount_minor,
        currency=currency,
        status=_status(fields.get("status"), settings.get("statuses") or {}),
        kind=kind,
        occurred_at=_occurred_at(fields.get("occurred_at"), now),
        click_id=click_id,
        code=code,
        customer_id=_text(fields, "customer_id"),
        customer_ip_hash=_customer_ip_hash(fields.get("customer_ip"), ip_salt),
    )


def _text(fields: Mapping[str, str], name: str) -> str | None:
    value = fields.get(name)
    return None if value is None else field_text(name, value)


def _customer_ip_hash(value: str | None, salt: str) -> str | None:
    """The salted hash of a reported customer IP (the refusal never repeats the value, so
    no address reaches a log or the network's error body)."""
    if value is None:
        return None
    address = canonical_address(value)
    if address is None:
        raise ConversionRejected("customer_ip", "customer_ip is not an IPv4 or IPv6 address")
    if not salt:
        raise RuntimeError("a customer_ip arrived but no IP hash salt was settled")
    return hash_address(salt, address)


def _kind(value: str | None) -> ConversionKind:
    if value is None:
        return "sale"
    kind = KIND_WORDS.get(value.lower())
    if kind is None:
        raise ConversionRejected("kind", f"kind must be one of: {', '.join(KINDS)}")
    return kind


def _currency(value: str | None, program: Program) -> str:
    if value is None:
        return program.currency
    try:
        currency = check_currency(value)
    except ValueError:
        raise ConversionRejected(
            "currency", f"{value[:10]!r} is not a known currency code"
        ) from None
    if currency != program.currency:
        raise ConversionRejected(
            "currency",
            f"{program.slug} counts in {program.currency}; convert {currency} amounts first",
            status=422,
        )
    return currency


def _amount(value: str, currency: str) -> int:
    field_text("amount", value)  # bounded before Decimal reads it
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ConversionRejected("amount", f"{value[:40]!r} is not a number") from None
    if not number.is_finite():
        raise ConversionRejected("amount", f"{value[:40]!r} is not a number")
    if number < 0:
        raise ConversionRejected("amount", "amount cannot be negative")
    try:
        return to_minor(number, currency)
    except ValueError as error:
        raise ConversionRejected("amount", str(error)) from None


def _status(value: str | None, mapping: Mapping[str, str]) -> ConversionStatus:
    if value is None:
        return "pending"
    mapped = mapping.get(value) or mapping.get(value.lower())
    if mapped is not None:
        return cast(ConversionStatus, mapped)
    status = STATUS_WORDS.get(value.lower())
    if status is None:
        raise ConversionRejected(
            "status",
            f"{value[:40]!r} is not a status we know: use pending, approved, paid or reversed "
            "(or map the network's values in the program settings)",
        )
    return status


def _occurred_at(value: str | None, now: datetime) -> datetime:
    if value is None:
        return now
    field_text("occurred_at", value)
    parsed: datetime
    if re.fullmatch(r"\d{9,11}(\.\d+)?", value):
        parsed = datetime.fromtimestamp(float(value), UTC)
    else:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ConversionRejected(
                "occurred_at",
                f"{value[:40]!r} is not a time: use ISO 8601 (2026-11-18T12:00:00Z) or Unix "
                "seconds",
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
    if parsed.replace(tzinfo=UTC) < EARLIEST:
        raise ConversionRejected(
            "occurred_at", f"occurred_at is before {EARLIEST:%Y-%m-%d}: send the real time"
        )
    if parsed > now + FUTURE_TOLERANCE:
        raise ConversionRejected("occurred_at", "occurred_at is in the future")
    return parsed.astimezone(UTC)
