"""The delivery interface every adapter implements for the outbox dispatcher.

The dispatcher decides when to send (pacing, retries, leases); an adapter only knows how to
put one ``Reply`` in front of a user or into a chat on its platform, and reports failures
as one of the three exception types below so the dispatcher can treat every platform alike.
"""

from __future__ import annotations

from typing import Literal, Protocol

from commands.core.reply import Reply

TargetKind = Literal["user", "chat"]


class DeliveryError(Exception):
    """Base class; ``str(error)`` is stored as the row's last error."""


class Unreachable(DeliveryError):
    """Permanent: blocked by the user, DMs closed, chat gone. Do not retry this recipient
    until they talk to the bot again."""


class RetryAfter(DeliveryError):
    """The platform asked us to slow down (HTTP 429); try again after ``seconds``."""

    def __init__(self, seconds: float, message: str = "rate limited") -> None:
        super().__init__(f"{message}; retry after {seconds:g}s")
        self.seconds = seconds


class TransientFailure(DeliveryError):
    """A network error or 5xx: retry with backoff."""


class Sender(Protocol):
    """What an adapter offers the dispatcher."""

    platform: str

    async def send(
        self, target_kind: TargetKind, target_id: str, reply: Reply, *, dedupe_key: str
    ) -> None:
        """Deliver ``reply``; raise a :class:`DeliveryError` subclass on failure.

        ``dedupe_key`` lets platforms that support it (Discord message nonces with
        ``enforce_nonce``) drop a resend after a crash.
        """
        ...
