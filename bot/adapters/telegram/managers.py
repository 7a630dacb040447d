"""Who is a manager on Telegram: configured user ids, plus (optionally) the administrators
of the configured announcement chats, read with ``getChatAdministrators`` and cached.

Reading the administrators can fail in more ways than ``TelegramError``: a proxy's HTML
page, a ``result`` of the wrong shape (python-telegram-bot then raises ``KeyError`` or
``TypeError`` while parsing it), a hung connection. Every failure is handled the same way,
here, before the update reaches the dispatcher: the last list read stays in force (a
flaky API must not promote or demote anyone, and nobody unknown becomes a manager), the
next attempt waits :data:`RETRY_AFTER_FAILURE_SECONDS` (not every update pays for a broken
API), and the failure is logged once when it starts, then at most every
:data:`LOG_EVERY_SECONDS` while it lasts, and once more when it ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from telegram import Bot
from telegram.error import TelegramError

log = logging.getLogger(__name__)

LOOKUP_TIMEOUT_SECONDS = 3.0  # an update waits at most this long for a hung lookup
RETRY_AFTER_FAILURE_SECONDS = 30.0
LOG_EVERY_SECONDS = 600.0


@dataclass
class _Trouble:
    """A run of failed lookups for one chat, for throttled logging."""

    failures: int
    logged_at: float


class ManagerDirectory:
    def __init__(
        self,
        bot: Bot,
        *,
        manager_user_ids: Iterable[int],
        admin_chat_ids: Iterable[int],
        cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bot = bot
        self._configured = frozenset(manager_user_ids)
        self._chats = tuple(admin_chat_ids)
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._admins: dict[int, frozenset[int]] = {}
        self._next_read: dict[int, float] = {}
        self._trouble: dict[int, _Trouble] = {}
        self._lock = asyncio.Lock()

    async def is_manager(self, user_id: int) -> bool:
        """Whether ``user_id`` manages the programs; never raises for a failed lookup."""
        if user_id in self._configured:
            return True
        for chat in self._chats:
            if user_id in await self._admins_of(chat):
                return True
        return False

    async def _admins_of(self, chat_id: int) -> frozenset[int]:
        async with self._lock:
            due = self._next_read.get(chat_id)
            if due is not None and self._clock() < due:
                return self._admins.get(chat_id, frozenset())
            try:
                members = await self._bot.get_chat_administrators(
                    chat_id,
                    read_timeout=LOOKUP_TIMEOUT_SECONDS,
                    connect_timeout=LOOKUP_TIMEOUT_SECONDS,
                    pool_timeout=LOOKUP_TIMEOUT_SECONDS,
                )
                admins = frozenset(member.user.id for member in members if not member.user.is_bot)
            except Exception as error:  # any failure at all: keep what we knew
                self._failed(chat_id, error)
                self._next_read[chat_id] = self._clock() + RETRY_AFTER_FAILURE_SECONDS
                return self._admins.setdefault(chat_id, frozenset())
            if self._trouble.pop(chat_id, None) is not None:
                log.info("telegram: the administrators of %s can be read again", chat_id)
            self._admins[chat_id] = admins
            self._next_read[chat_id] = self._clock() + self._cache_seconds
            return admins

    def _failed(self, chat_id: int, error: Exception) -> None:
        now = self._clock()
        trouble = self._trouble.get(chat_id)
        if trouble is not None:
            trouble.failures += 1
            if now - trouble.logged_at < LOG_EVERY_SECONDS:
                return
            trouble.logged_at = now
            log.warning(
                "telegram: still cannot read the administrators of %s (%d failures in a "
                "row, the last: %s); keeping the last list",
                chat_id,
                trouble.failures,
                _summary(error),
            )
            return
        self._trouble[chat_id] = _Trouble(failures=1, logged_at=now)
        log.warning(
            "telegram: cannot read the administrators of %s: %s; keeping the last list, "
            "retrying in %.0f s",
            chat_id,
            _summary(error),
            RETRY_AFTER_FAILURE_SECONDS,
            # Telegram's own errors are explained by their message; anything else is a
            # surprise whose traceback is worth having once.
            exc_info=None if isinstance(error, TelegramError) else error,
        )


def _summary(error: Exception) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
