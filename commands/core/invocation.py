"""What a handler knows about the call: who, where, when, and the services it may use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from commands.core.link_changes import LinkChanges
from commands.core.text import cleaned, problem
from storage import Database

if TYPE_CHECKING:
    from commands.core.registry import Registry
from storage.affiliates import Affiliate
from storage.rewards import RewardDefaults

DISPLAY_NAME_LIMIT = 100  # identities.display_name and affiliates.display_name
USER_ID_LIMIT = 64  # identities.platform_user_id


class ChatKind(StrEnum):
    PRIVATE = "private"
    GROUP = "group"


@dataclass(frozen=True, slots=True)
class Actor:
    """The person invoking a command, as the adapter saw them.

    ``is_manager`` is decided by the adapter from configured ids and platform roles; the
    dispatcher checks it once against the command's audience.
    """

    platform: str
    user_id: str
    display_name: str
    is_manager: bool = False
    # Typed at this machine's console: a local, trusted operator, never rate limited.
    local: bool = False

    def __post_init__(self) -> None:
        """The one place where people's names and ids enter the core, for every adapter.

        A display name is only shown and recorded, so it is made storable (control
        characters and bytes that were not UTF-8 dropped, cut to the column's 100
        characters) rather than refused: nobody can rename themselves for us. A user id
        cannot be cut without merging two people, so one that does not fit is refused;
        platforms' ids are short numbers, only a console name can be too long.
        """
        reason = problem(self.user_id, USER_ID_LIMIT) if self.user_id else "is empty"
        if reason is not None:
            raise ValueError(f"a {self.platform} user id {reason}")
        name = cleaned(self.display_name, DISPLAY_NAME_LIMIT)
        object.__setattr__(self, "display_name", name or f"user {self.user_id}")

    @property
    def label(self) -> str:
        """Stable text for logs and the audit trail."""
        return f"{self.platform}:{self.user_id}"


@dataclass(frozen=True, slots=True)
class Settings:
    """The slice of configuration the core needs, built by the composition root."""

    public_base_url: str
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    # Where announcements go: (platform, chat id) pairs from the adapters' config.
    announce_targets: tuple[tuple[str, str], ...] = ()
    # Points and milestones for programs without their own reward rules ([rewards]).
    rewards: RewardDefaults = field(default_factory=RewardDefaults)
    # The Discord role ``/announce --ping`` pings in announcement posts (config); no role:
    # nobody can be pinged.
    announce_ping_role: str | None = None
    # ``[tracking] ip_hash_salt`` when configured; otherwise the instance's stored salt is
    # used (``commands.tracking.ip_hashes.settle_salt``), as the tracking server does.
    ip_hash_salt: str | None = field(default=None, repr=False)

    def link_url(self, code: str) -> str:
        return f"{self.public_base_url}/r/{code}"

    def check_url(self, code: str, token: str) -> str:
        """The private page where a link's owner checks it (``/r/<code>/check``)."""
        return f"{self.public_base_url}/r/{code}/check?t={token}"


@dataclass(frozen=True, slots=True)
class Services:
    """Dependencies handlers take as a parameter instead of importing globals."""

    database: Database
    settings: Settings
    clock: Callable[[], datetime]
    registry: Registry
    # This process's link caches, told when a command changes where links lead.
    link_changes: LinkChanges = field(default_factory=LinkChanges)


@dataclass(frozen=True, slots=True)
class Invocation:
    actor: Actor
    chat: ChatKind
    services: Services
    now: datetime
    chat_id: str | None = None
    affiliate: Affiliate | None = None  # set by the dispatcher for affiliate commands

    @property
    def database(self) -> Database:
        return self.services.database

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def require_affiliate(self) -> Affiliate:
        """The caller's affiliate record; the dispatcher guarantees it for affiliate commands."""
        if self.affiliate is None:
            raise RuntimeError("affiliate command invoked without an affiliate")
        return self.affiliate
