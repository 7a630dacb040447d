"""Update processing: different people concurrently, each person's messages in order.

PTB either handles updates one at a time (one slow database call holds up everyone) or
all concurrently (two quick commands from one person can be answered out of order, e.g.
``/join`` after ``/link``). This processor keeps a lock per sender, so both hold.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


class PerSenderOrder(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._pending: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        user = update.effective_user if isinstance(update, Update) else None
        if user is None:
            await coroutine
            return
        lock = self._locks.setdefault(user.id, asyncio.Lock())
        self._pending[user.id] = self._pending.get(user.id, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._pending[user.id] -= 1
            if not self._pending[user.id]:  # forget idle senders: the maps stay small
                del self._pending[user.id]
                del self._locks[user.id]

    async def initialize(self) -> None:
        """Nothing to set up: locks are made on demand."""

    async def shutdown(self) -> None:
        """Nothing to free: the locks go with the last update of each sender."""
