"""Putting a rendered Reply into a Telegram chat, and the outbox's ``Sender`` for Telegram.

Interactive replies and outbox deliveries share :func:`send_rendered`. A reply may take
several API calls (a photo, then messages split under the length limit); when Telegram
asks us to slow down half-way, the remaining parts wait out ``retry_after`` in place, so a
retry of the whole reply never repeats the parts already delivered.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    ReplyParameters,
)
from telegram import Message as TelegramMessage
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.error import RetryAfter as TelegramRetryAfter
from telegram.warnings import PTBDeprecationWarning

from bot.adapters.delivery import RetryAfter, TransientFailure, Unreachable
from bot.adapters.telegram.render import Rendered, render
from commands.core.reply import Reply

log = logging.getLogger(__name__)

PLATFORM = "telegram"
T = TypeVar("T")
# Telegram's wording when a chat is gone for good; other 400s are our bugs, not the user's.
_GONE = ("chat not found", "user not found", "bot was kicked", "group chat was deactivated")


def retry_after_seconds(error: TelegramRetryAfter) -> float:
    """``retry_after`` as seconds, whether PTB gives an int or a timedelta (PTB_TIMEDELTA)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: object = error.retry_after
    if isinstance(value, dt.timedelta):
        return max(value.total_seconds(), 0.0)
    if isinstance(value, int | float):
        return max(float(value), 0.0)
    return 1.0


async def send_rendered(
    bot: Bot,
    chat_id: int,
    rendered: Rendered,
    *,
    reply_to: int | None = None,
    max_wait: float = 30.0,
) -> list[TelegramMessage]:
    """Send every part of ``rendered``; buttons go on the last part.

    The first part raises Telegram's errors as they come (nothing was sent yet, so the
    caller may retry the whole reply); later parts wait out a 429 of up to ``max_wait``
    seconds and try again once.
    """
    keyboard = (
        InlineKeyboardMarkup(
            [[InlineKeyboardButton(b.label, url=b.url)] for b in rendered.buttons]
        )
        if rendered.buttons
        else None
    )
    parts: list[Callable[[], Awaitable[TelegramMessage]]] = []
    reply_parameters = (
        ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
    )
    if rendered.photo is not None:
        image = rendered.photo
        parts.append(
            lambda: bot.send_photo(
                chat_id,
                photo=InputFile(image.data, filename=image.filename),
                caption=rendered.caption or None,
                parse_mode=ParseMode.HTML,
                reply_markup=None if rendered.messages else keyboard,
                reply_parameters=reply_parameters,
            )
        )
    for index, text in enumerate(rendered.messages):
        last = index == len(rendered.messages) - 1
        parts.append(
            functools.partial(
                bot.send_message,
                chat_id,
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard if last else None,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                reply_parameters=None if parts else reply_parameters,
            )
        )
    sent = []
    for index, part in enumerate(parts):
        if index == 0:
            sent.append(await part())
        else:
            sent.append(await _patiently(part, max_wait))
    return sent


async def _patiently(call: Callable[[], Awaitable[T]], max_wait: float) -> T:
    try:
        return await call()
    except TelegramRetryAfter as error:
        seconds = retry_after_seconds(error)
        if seconds > max_wait:
            raise
        log.info("telegram: flood control, waiting %.1fs before the next part", seconds)
        await asyncio.sleep(seconds)
        return await call()


def unreachable(error: TelegramError) -> bool:
    """Whether Telegram refused for good: blocked, never started, kicked, chat gone."""
    if isinstance(error, Forbidden):
        return True
    return isinstance(error, BadRequest) and any(
        phrase in error.message.lower() for phrase in _GONE
    )


class TelegramSender:
    """The outbox dispatcher's way to reach Telegram users (``user``) and chats (``chat``).

    It paces each chat (``seconds_between_messages_per_chat``; three times that in groups,
    whose limit is 20 a minute) and reports failures as the delivery interface's errors.
    """

    platform = PLATFORM

    def __init__(
        self,
        bot: Bot,
        *,
        seconds_per_chat: float = 1.0,
        max_wait: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bot = bot
        self._seconds_per_chat = seconds_per_chat
        self._max_wait = max_wait
        self._clock = clock
        self._next_slot: dict[int, float] = {}

    async def send(
        self,
        target_kind: Literal["user", "chat"],
        target_id: str,
        reply: Reply,
        *,
        dedupe_key: str,
    ) -> None:
        """Deliver ``reply``; a private chat's id is the user's id on Telegram."""
        try:
            chat_id = int(target_id)
        except ValueError:
            raise Unreachable(f"{target_id!r} is not a Telegram chat id") from None
        rendered = render(reply)
        if rendered.empty:
            return
        await self._pace(chat_id, group=target_kind == "chat" and chat_id < 0)
        try:
            await send_rendered(self._bot, chat_id, rendered, max_wait=self._max_wait)
        except TelegramRetryAfter as error:
            raise RetryAfter(retry_after_seconds(error), "telegram flood control") from error
        except TelegramError as error:
            if unreachable(error):
                raise Unreachable(f"telegram: {error.message}") from error
            # Network errors and 5xx pass; a 400 about our own message is not the
            # recipient's fault either, so it is retried with backoff rather than dropped.
            raise TransientFailure(f"telegram: {error.message}") from error
        log.debug("telegram: delivered %s to %s %s", dedupe_key, target_kind, chat_id)

    async def _pace(self, chat_id: int, *, group: bool) -> None:
        interval = self._seconds_per_chat * (3 if group else 1)
        now = self._clock()
        slot = max(self._next_slot.get(chat_id, now), now)
        self._next_slot[chat_id] = slot + interval
        if slot > now:
            await asyncio.sleep(slot - now)
