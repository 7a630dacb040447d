"""/program set and /program postback: a program's tracking settings, one key at a time.

Destinations and fallbacks are checked like at creation (http or https, a host, no
credentials) so the redirect only ever goes where a manager said. Postback settings live
in the program's ``settings`` document under ``postback``: auth scheme, secret (and the
previous one during a rotation), signature header, and the network's own field names and
status values.
"""

from __future__ import annotations

import base64
import re
import secrets
from typing import Any
from urllib.parse import urlencode

from commands.core.catalog import command
from commands.core.errors import UsageError
from commands.core.invocation import Invocation
from commands.core.programs import program_named
from commands.core.registry import Audience, Param
from commands.core.reply import Field, Reply, Visibility
from commands.core.validation import destination_url, slug
from commands.core.words import plural
from commands.tracking import (
    ALIASES,
    AUTH_MODES,
    DEFAULT_HEADER,
    auth_of,
    postback_settings,
)
from storage import Store
from storage.audit import AuditEntry
from storage.programs import Program
from storage.referrals import SIGNUP_REFERRALS
from storage.server_joins import INVITES_SETTING

KEYS = (
    "destination",
    "fallback",
    "recurring-months",
    "postback-auth",
    "postback-secret",
    "postback-header",
    "field",
    "status",
    "signup_referrals",
    "discord_invites",
)
_ON = frozenset({"on", "yes", "true", "1"})
_OFF = frozenset({"off", "no", "false", "0"})
STATUSES = ("pending", "approved", "paid", "reversed")
HEADER = re.compile(r"^[A-Za-z0-9-]{1,64}$")
MAPPED_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MIN_SECRET_LENGTH = 16


def new_secret(mode: str) -> str:
    """A fresh postback secret in the form the scheme expects."""
    if mode == "standard-webhooks":
        return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    return secrets.token_urlsafe(24)


@command(
    "program set",
    "Change a program's destination, fallback, postback or referral settings",
    params=[
        Param("program", "The program", parse=slug, autocomplete="program"),
        Param("key", "What to change", choices=KEYS),
        Param("value", "The new value (none to clear a fallback)", greedy=True, max_length=2000),
    ],
    audience=Audience.MANAGER,
    examples=(
        "/program set shop destination https://shop.example/?aff={code}&sub={click_id}",
        "/program set shop fallback https://shop.example/sold-out",
        "/program set shop postback-auth hmac",
        "/program set shop postback-secret new",
        "/program set shop field txn_id=order_ref",
        "/program set shop status 2=reversed",
        "/program set shop signup_referrals on",
        "/program set shop discord_invites off",
    ),
    private=True,
)
async def set_program(invocation: Invocation, program: str, key: str, value: str) -> Reply:
    """Changes one tracking setting of a program.

    destination: where clicks go; it may contain {click_id}, {code}, {affiliate} and
    {campaign}, otherwise click_id and ref are added to its query. fallback: where clicks
    go while the program is paused or capped (none to remove it). recurring-months: how
    long later purchases of a referred customer keep paying commission (0 = only the first).

    postback-auth: token (a secret in the postback URL), hmac (an HMAC-SHA256 signature of
    the body in a header) or standard-webhooks. postback-secret: new for a generated one, or
    the secret your network gave you; the previous secret keeps working until you set
    another (or say forget-previous). postback-header: the signature header for hmac.
    field ours=theirs: the network's name for one of our fields (txn_id=order_ref). status
    theirs=ours: what the network's status values mean (2=reversed).

    signup_referrals on/off: Telegram deep links (t.me/yourbot?start=...) that record the
    people an affiliate brings to the bot as signup referrals. discord_invites on/off:
    personal Discord server invites with /link (joins are shown, never paid).
    """
    async with invocation.database.transaction() as store:
        found = await program_named(store, program)
        before = _view(found)
        shown = await _apply(store, invocation, found, key, value.strip())
        changed = await store.programs.get(found.id)
        if changed is None:  # pragma: no cover - updated in this transaction
            raise RuntimeError("program vanished inside its own transaction")
        await store.audit.record(
            AuditEntry(
                actor=invocation.actor.label,
                action=f"program.set.{key}",
                subject=f"program:{found.slug}",
                before=before,
                after=_view(changed),
                occurred_at=invocation.now,
            )
        )
    invocation.services.link_changes.changed()
    return Reply(
        title=f"{found.name}: {key} changed",
        text=shown,
        notes=("Tracking servers pick up the change within a few seconds.",),
        visibility=Visibility.PRIVATE,
    )


async def _apply(
    store: Store, invocation: Invocation, program: Program, key: str, value: str
) -> str:
    now = invocation.now
    if key == "destination":
        url = _url(value)
        await store.program_settings.set_destination(program.id, url, now=now)
        return f"Clicks now go to {url}"
    if key == "fallback":
        fallback = None if value.lower() in {"none", "off", "-"} else _url(value)
        await store.program_settings.set_fallback(program.id, fallback, now=now)
        return f"Fallback URL: {fallback}" if fallback else "The fallback URL is removed."
    if key == "recurring-months":
        if not re.fullmatch(r"\d{1,3}", value) or int(value) > 120:
            raise UsageError("recurring-months must be a whole number from 0 to 120")
        await store.program_settings.set_recurring_months(program.id, int(value), now=now)
        months = int(value)
        return (
            plural(months, "Recurring commission: {n} month.", "Recurring commission: {n} months.")
            if months
            else "One-off commission."
        )
    if key == "signup_referrals":
        enabled = _switch(key, value)
        await store.referrals.set_signup_referrals(program.id, enabled, now=now)
        return f"Signup referrals through Telegram deep links are {_word(enabled)}."
    if key == "discord_invites":
        enabled = _switch(key, value)
        await store.server_joins.set_program_invites(program.id, enabled, now=now)
        return f"Personal Discord server invites with /link are {_word(enabled)}."
    settings = postback_settings(program)
    shown = _change_postback(settings, key, value)
    document = {**program.settings, "postback": settings}
    await store.program_settings.replace_settings(program.id, document, now=now)
    return shown


def _change_postback(settings: dict[str, Any], key: str, value: str) -> str:
    """Apply one postback setting to the document in place; returns what to tell."""
    if key == "postback-auth":
        mode = value.lower()
        if mode not in AUTH_MODES:
            raise UsageError(f"postback-auth must be one of: {', '.join(AUTH_MODES)}")
        settings["auth"] = mode
        return f"Postbacks now authenticate with {mode}. See /program postback for the details."
    if key == "postback-secret":
        if value.lower() == "forget-previous":
            settings.pop("previous_secret", None)
            return "Only the current postback secret is accepted now."
        secret = new_secret(auth_of(settings).mode) if value.lower() == "new" else value
        if len(secret) < MIN_SECRET_LENGTH or any(char.isspace() for char in secret):
            raise UsageError(f"a secret needs at least {MIN_SECRET_LENGTH} characters, no spaces")
        if settings.get("secret"):
            settings["previous_secret"] = settings["secret"]
        settings["secret"] = secret
        return f"New postback secret: {secret}\nThe previous one keeps working until replaced."
    if key == "postback-header":
        if not HEADER.match(value):
            raise UsageError("a header name is letters, digits and dashes, like X-Signature")
        settings["header"] = value
        return f"HMAC signatures are read from the {value} header."
    left, _, right = (part.strip() for part in value.partition("="))
    if key == "field":  # ours=theirs
        known = [name for name in ALIASES if name != "program"]
        if left not in known:
            raise UsageError(f"field names one of ours: {', '.join(known)} (like txn_id=order)")
        return _map(settings, "fields", left, right, f"{left} is read from {right!r}.")
    # status: theirs=ours
    if right and right.lower() not in STATUSES:
        raise UsageError("status maps a network value to ours, like 2=reversed or 1=approved")
    return _map(settings, "statuses", left, right.lower(), f"Status {left!r} means {right}.")


def _map(settings: dict[str, Any], name: str, key: str, value: str, shown: str) -> str:
    mapping = dict(settings.get(name) or {})
    if not value:
        mapping.pop(key, None)
        settings[name] = mapping
        return f"{key} is back to the default."
    if not MAPPED_NAME.match(value if name == "fields" else key) or not key:
        raise UsageError("use letters, digits, _ . or - (up to 64)")
    mapping[key] = value
    settings[name] = mapping
    return shown


def _switch(key: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in _ON:
        return True
    if lowered in _OFF:
        return False
    raise UsageError(f"the {key} setting is on or off")


def _word(enabled: bool) -> str:
    return "on" if enabled else "off"


def _url(value: str) -> str:
    try:
        return destination_url(value)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _view(program: Program) -> dict[str, Any]:
    """What the audit log keeps: settings with the secrets masked."""
    settings = postback_settings(program)
    masked = {
        key: ("***" if key in {"secret", "previous_secret"} and value else value)
        for key, value in settings.items()
    }
    return {
        "destination_url": program.destination_url,
        "fallback_url": program.fallback_url,
        "recurring_months": program.recurring_months,
        "signup_referrals": bool(program.settings.get(SIGNUP_REFERRALS, False)),
        "discord_invites": bool(program.settings.get(INVITES_SETTING, False)),
        "postback": masked,
    }


@command(
    "program postback",
    "The postback URL to paste into an affiliate network (private)",
    params=[Param("program", "The program", parse=slug, autocomplete="program")],
    audience=Audience.MANAGER,
    examples=("/program postback shop",),
    private=True,
)
async def show_postback(invocation: Invocation, program: str) -> Reply:
    """Shows how a network reports conversions for a program: the postback URL with its
    secret filled in (a secret is generated the first time; a POST may send the token in
    its form or JSON body instead), or for hmac and
    standard-webhooks the address, header and signing secret. Keep it private: anyone with
    the secret can report sales."""
    async with invocation.database.transaction() as store:
        found = await program_named(store, program)
        settings = postback_settings(found)
        auth = auth_of(settings)
        if not auth.secrets:
            settings["secret"] = new_secret(auth.mode)
            document = {**found.settings, "postback": settings}
            await store.program_settings.replace_settings(found.id, document, now=invocation.now)
            auth = auth_of(settings)
    base = f"{invocation.settings.public_base_url}/postback"
    names = {ours: (settings.get("fields") or {}).get(ours, ours) for ours in ALIASES}
    placeholders = {names[name]: f"{{{name}}}" for name in ("click_id", "txn_id", "amount")}
    placeholders[names["status"]] = "{status}"
    fields = [Field("Auth", auth.mode)]
    if auth.mode == "token":
        query = urlencode({"program": found.slug, "token": auth.secrets[0]}, safe="{}")
        template = f"{base}?{query}&" + "&".join(f"{k}={v}" for k, v in placeholders.items())
        template += f"&currency={found.currency}"
        fields.append(Field("Postback URL", template, inline=False))
        fields.append(
            Field(
                "POST",
                "A POST may carry the token and the other fields in a form or JSON body "
                "instead of the query (token=…); the query wins when both have one.",
                inline=False,
            )
        )
    else:
        fields.append(Field("POST to", f"{base}?program={found.slug}", inline=False))
        if auth.mode == "hmac":
            fields.append(Field("Signature header", auth.header or DEFAULT_HEADER))
        else:
            fields.append(Field("Headers", "webhook-id, webhook-timestamp, webhook-signature"))
        fields.append(Field("Signing secret", auth.secrets[0], inline=False))
        fields.append(Field("Body fields", ", ".join(placeholders), inline=False))
    return Reply(
        title=f"Postback for {found.name}",
        text=(
            "Replace the {placeholders} with your network's macros. Repeated postbacks are "
            "safe: each transaction is stored once, and a new status (approved, paid, "
            "reversed) updates it."
        ),
        fields=tuple(fields),
        notes=("Keep this private: the secret lets anyone report conversions.",),
        visibility=Visibility.PRIVATE,
    )
