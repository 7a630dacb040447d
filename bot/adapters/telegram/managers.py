"""Who is a manager on Telegram: configured user ids, plus (optionally) the administrators
of the configured announcement chats, read with ``getChatAdministrators`` and cached."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from telegram import Bot
from telegram.error import TelegramError

log = logging.getLogger(__name__)


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
        self._fetched_at: dict[int, float] = {}
        self._lock = asyncio.Lock()

    async def is_manager(self, user_id: int) -> bool:
        if user_id in self._configured:
            return True
        for chat in self._chats:
            if user_id in await self._admins_of(chat):
                return True
        return False

    async def _admins_of(self, chat_id: int) -> frozenset[int]:
        async with self._lock:
            fetched = self._fetched_at.get(chat_id)
            if fetched is not None and self._clock() - fetched < self._cache_seconds:
                return self._admins[chat_id]
            try:
                members = await self._bot.get_chat_administrators(chat_id)
            except TelegramError as error:
                # Keep what we knew: a flaky API must not demote or promote anyone.
                log.warning("telegram: cannot read the administrators of %s: %s", chat_id, error)
                self._fetched_at[chat_id] = self._clock()
                return self._admins.setdefault(chat_id, frozenset())
            self._admins[chat_id] = frozenset(
                member.user.id for member in members if not member.user.is_bot
            )
            self._fetched_at[chat_id] = self._clock()
            return self._admins[chat_id]
