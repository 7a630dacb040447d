"""Delivery of outbox messages on Discord: DMs to users, posts to channels.

discord.py's own rate-limit handling stays on: a short 429 is waited out and retried inside
the library. A wait longer than the client's ``max_ratelimit_timeout`` comes back to us as
``RetryAfter`` so the outbox dispatcher can reschedule instead of holding a worker. A user
whose DMs are closed (error 50007) is ``Unreachable``: retrying would only add to the
invalid-request count that gets a bot's IP banned.
"""

from __future__ import annotations

import hashlib
import json
import logging

import aiohttp
import discord

from bot.adapters.delivery import RetryAfter, TargetKind, TransientFailure, Unreachable
from bot.adapters.discord.render import render
from commands.core.reply import Reply

log = logging.getLogger(__name__)

CANNOT_DM = 50007  # "Cannot send messages to this user"
# Codes meaning the recipient is gone or closed to us for good: unknown channel, unknown
# user, missing access, missing permissions.
PERMANENT_CODES = frozenset({10003, 10013, 50001, 50013, CANNOT_DM})
NONCE_LENGTH = 25  # Discord accepts nonces up to 25 characters
DEFAULT_RETRY_SECONDS = 60.0


def nonce_for(dedupe_key: str) -> str:
    """A Discord message nonce derived from the outbox dedupe key.

    Sent with ``enforce_nonce``, Discord answers a resend with the same nonce (a crash
    between sending and marking the row sent) with the message it already created.
    """
    return hashlib.sha256(dedupe_key.encode()).hexdigest()[:NONCE_LENGTH]


class DiscordSender:
    """Implements ``bot.adapters.delivery.Sender`` with a logged-in discord.py client."""

    platform = "discord"

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    async def send(
        self, target_kind: TargetKind, target_id: str, reply: Reply, *, dedupe_key: str
    ) -> None:
        """Send ``reply`` to a user (DM) or a channel; raise a ``DeliveryError`` on failure."""
        try:
            snowflake = int(target_id)
        except ValueError:
            raise Unreachable(f"{target_id!r} is not a Discord id") from None
        try:
            channel: discord.abc.Messageable
            if target_kind == "user":
                channel = await self._client.create_dm(discord.Object(snowflake))
            else:
                channel = self._client.get_partial_messageable(snowflake)
            rendered = render(reply)
            await channel.send(nonce=nonce_for(dedupe_key), **rendered.send_kwargs())
        except discord.RateLimited as error:
            raise RetryAfter(error.retry_after, "Discord rate limit") from None
        except discord.HTTPException as error:
            raise _classify(error, target_kind) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            raise TransientFailure(f"network error: {error!r}") from None


def _classify(
    error: discord.HTTPException, target_kind: TargetKind
) -> Unreachable | RetryAfter | TransientFailure:
    status = error.status
    if error.code in PERMANENT_CODES or status in {403, 404}:
        what = "user" if target_kind == "user" else "channel"
        return Unreachable(f"Discord refused ({status}, code {error.code}): {what} unreachable")
    if status == 429:
        return RetryAfter(_retry_after(error), "Discord rate limit")
    if status >= 500:
        return TransientFailure(f"Discord server error {status}")
    # A 400 means this message cannot be sent as it is; retries are capped by the
    # dispatcher, and the error text says what Discord disliked.
    return TransientFailure(f"Discord refused the message ({status}, code {error.code})")


def _retry_after(error: discord.HTTPException) -> float:
    """Seconds from a 429 that discord.py did not handle (no ``Via`` header: Cloudflare)."""
    response = error.response
    header = response.headers.get("Retry-After") if response is not None else None
    for candidate in (header, _body_retry_after(error.text)):
        try:
            if candidate is not None:
                return max(float(candidate), 0.0)
        except ValueError:
            continue
    return DEFAULT_RETRY_SECONDS


def _body_retry_after(text: str) -> str | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    value = data.get("retry_after") if isinstance(data, dict) else None
    return str(value) if value is not None else None
