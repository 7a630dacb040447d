"""The Telegram adapter: a python-telegram-bot Application sharing affbot's event loop.

Commands come in as text, go through the one dispatcher (which parses them with the
registry's parser) and the replies are rendered as Telegram HTML. Private replies asked for
in a group go to the person's private chat; the group only hears that they did.

Start-up follows PTB's recipe for a shared loop: ``initialize()``, then long polling
(``updater.start_polling()``) or the webhook, then ``start()``; shutdown runs the reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
from collections.abc import AsyncIterator
from enum import Enum
from typing import Any

from telegram import Bot, Message, Update, User
from telegram.constants import ChatType
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.error import RetryAfter as TelegramRetryAfter
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    TypeHandler,
    filters,
)

from bot.adapters.telegram import commands as telegram_commands
from bot.adapters.telegram.deeplinks import GREETING_PAYLOAD, greeting, start_url, with_invite
from bot.adapters.telegram.delivery import (
    PLATFORM,
    TelegramSender,
    retry_after_seconds,
    send_rendered,
    unreachable,
)
from bot.adapters.telegram.managers import ManagerDirectory
from bot.adapters.telegram.ordering import PerSenderOrder
from bot.adapters.telegram.render import Rendered, render
from bot.config import TelegramConfig
from commands.core.dispatcher import Dispatcher
from commands.core.invocation import DISPLAY_NAME_LIMIT, Actor, ChatKind
from commands.core.reply import Button, Reply
from commands.core.text import cleaned
from commands.fraud import FraudRules
from commands.tracking.referrals import Outcome, ReferralResult, record_signup, valid_payload

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message"]
CONCURRENT_UPDATES = 32
_HANDLED_MEMORY = 1000


class TelegramStartError(OSError):
    """Telegram refused the token or could not be reached at start-up (one line for the
    operator; ``affbot run`` reports OSErrors without a traceback)."""


@contextlib.asynccontextmanager
async def delivery_sender(config: TelegramConfig) -> AsyncIterator[TelegramSender]:
    """A sender for ``affbot deliver``: the Bot API client alone, no polling, no webhook.

    The chat adapter (in ``affbot run``) owns the updates; this process only sends, so it
    must not call getUpdates (Telegram allows one poller per token). Start-up failures
    raise :class:`TelegramStartError` with one line for the operator.
    """
    token = config.token.get_secret_value() if config.token else ""
    if not token:
        raise ValueError("telegram.token is not set")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # request URLs contain the token
    root = config.api_base_url.rstrip("/")
    bot = Bot(token, base_url=f"{root}/bot", base_file_url=f"{root}/file/bot")
    try:
        await bot.initialize()
    except (InvalidToken, NetworkError) as error:
        await bot.shutdown()
        raise _start_error(error, config.api_base_url) from None
    try:
        yield TelegramSender(
            bot,
            seconds_per_chat=config.seconds_between_messages_per_chat,
            max_wait=config.max_retry_after_seconds,
        )
    finally:
        await bot.shutdown()


def _start_error(error: TelegramError, api_base_url: str) -> TelegramStartError:
    if isinstance(error, InvalidToken):
        return TelegramStartError(
            "telegram: the bot token was refused (check telegram.token / TELEGRAM_TOKEN)"
        )
    return TelegramStartError(f"telegram: cannot reach the Bot API at {api_base_url}: {error}")


class _Delivery(Enum):
    SENT = "sent"
    REFUSED = "refused"  # blocked, or never started the bot
    FAILED = "failed"


class TelegramAdapter:
    platform = PLATFORM

    def __init__(
        self, config: TelegramConfig, dispatcher: Dispatcher, *, fraud: FraudRules
    ) -> None:
        token = config.token.get_secret_value() if config.token else ""
        if not token:
            raise ValueError("telegram.token is not set")
        # httpx logs every request URL at INFO, and Bot API URLs contain the token.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        self.config = config
        self._dispatcher = dispatcher
        self._services = dispatcher.services
        self._fraud = fraud
        self._names = telegram_commands.CommandNames.of(dispatcher.registry)
        root = config.api_base_url.rstrip("/")
        builder = (
            ApplicationBuilder()
            .token(token)
            .base_url(f"{root}/bot")
            .base_file_url(f"{root}/file/bot")
            .rate_limiter(
                AIORateLimiter(
                    overall_max_rate=config.messages_per_second,
                    group_max_rate=config.group_messages_per_minute,
                    max_retries=0,
                )
            )
            .concurrent_updates(PerSenderOrder(CONCURRENT_UPDATES))
            .job_queue(None)  # schedules belong to affbot's own scheduler
        )
        if config.webhook_url:
            builder = builder.updater(None)
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self._admin_chats = tuple(config.announce_chat_ids) if config.admins_are_managers else ()
        self._managers = ManagerDirectory(
            self.application.bot,
            manager_user_ids=config.manager_user_ids,
            admin_chat_ids=self._admin_chats,
            cache_seconds=config.admin_cache_seconds,
        )
        self.sender = TelegramSender(
            self.application.bot,
            seconds_per_chat=config.seconds_between_messages_per_chat,
            max_wait=config.max_retry_after_seconds,
        )
        self.username = ""
        self._handled: dict[int, None] = {}
        self._progress = asyncio.Condition()
        self._install_handlers()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Log in (getMe), publish the command menus, then receive updates."""
        try:
            await self.application.initialize()
        except (InvalidToken, NetworkError) as error:
            await self.application.bot.shutdown()  # close the HTTP pools initialize opened
            raise _start_error(error, self.config.api_base_url) from None
        try:
            await self._go_live()
        except TelegramError as error:
            await self.stop()
            raise TelegramStartError(f"telegram: start-up failed: {error}") from None
        except BaseException:
            await self.stop()
            raise

    async def _go_live(self) -> None:
        bot = self.application.bot
        self.username = bot.username
        await telegram_commands.publish(
            bot,
            self._dispatcher.registry,
            manager_user_ids=self.config.manager_user_ids,
            admin_chat_ids=self._admin_chats,
        )
        if self.config.webhook_url:
            secret = self.config.webhook_secret
            await bot.set_webhook(
                self.config.webhook_url,
                secret_token=secret.get_secret_value() if secret else None,
                allowed_updates=ALLOWED_UPDATES,
            )
            log.info("telegram: @%s gets updates at %s", self.username, self.config.webhook_url)
        else:
            updater = self.application.updater
            if updater is None:  # pragma: no cover - built with an updater in polling mode
                raise RuntimeError("polling needs the application's updater")
            await updater.start_polling(
                timeout=dt.timedelta(seconds=self.config.poll_timeout),
                allowed_updates=ALLOWED_UPDATES,
                error_callback=_polling_error,
            )
            log.info("telegram: @%s is polling %s", self.username, self.config.api_base_url)
        await self.application.start()

    async def stop(self) -> None:
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    @property
    def running(self) -> bool:
        return self.application.running

    async def feed(self, data: dict[str, Any]) -> None:
        """Queue one update received through the webhook."""
        update = Update.de_json(data, self.application.bot)
        await self.application.update_queue.put(update)

    async def wait_handled(self, update_id: int, within: float = 5.0) -> None:
        """Wait until an update has been answered (tests and smoke checks use it)."""
        async with self._progress:
            await asyncio.wait_for(
                self._progress.wait_for(lambda: update_id in self._handled), within
            )

    # -- handlers ------------------------------------------------------------------------

    def _install_handlers(self) -> None:
        only_new = filters.UpdateType.MESSAGE  # an edited command must not run twice
        self.application.add_handler(CommandHandler("start", self._on_start, filters=only_new))
        for name in self._names.handled:
            if name != "start":
                self.application.add_handler(
                    CommandHandler(name, self._on_command, filters=only_new)
                )
        self.application.add_handler(TypeHandler(Update, self._mark_handled), group=1)
        self.application.add_error_handler(self._on_error)

    async def _on_command(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        user = message.from_user if message else None
        if message is None or message.text is None or user is None or user.is_bot:
            return
        actor = await self._actor(user)
        line = self._names.to_line(message.text)
        replies = await self._dispatcher.execute_line(
            line, actor, _chat_kind(message), chat_id=str(message.chat.id)
        )
        replies = [await with_invite(reply, self._services, self.username) for reply in replies]
        await self._answer(message, user, replies)

    async def _on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        user = message.from_user if message else None
        if message is None or user is None or user.is_bot:
            return
        actor = await self._actor(user)
        payload = context.args[0] if context.args else ""
        result: ReferralResult | None = None
        private = message.chat.type == ChatType.PRIVATE
        if private and payload and payload != GREETING_PAYLOAD and valid_payload(payload):
            result = await self._record_referral(payload, user)
        # The /help shown with the greeting stands for this /start: the person's contact,
        # but when the /start was their signup, not a referred account coming back.
        signed_up = result is not None and result.outcome is Outcome.RECORDED
        help_replies = await self._dispatcher.execute_line(
            "/help",
            actor,
            _chat_kind(message),
            chat_id=str(message.chat.id),
            returning=not signed_up,
        )
        first_name = _clamp(user.first_name) or "there"
        await self._answer(message, user, [greeting(first_name, result), *help_replies])

    async def _record_referral(self, payload: str, user: User) -> ReferralResult | None:
        try:
            result = await record_signup(
                self._services.database,
                payload,
                platform=PLATFORM,
                user_id=str(user.id),
                now=self._services.clock(),
                rewards=self._services.settings.rewards,
                fraud=self._fraud,
            )
        except Exception:
            log.exception("telegram: could not record the referral %r for %s", payload, user.id)
            return None
        log.info("telegram: /start %s by %s: %s", payload, user.id, result.outcome)
        return result

    async def _mark_handled(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        async with self._progress:
            self._handled[update.update_id] = None
            while len(self._handled) > _HANDLED_MEMORY:
                self._handled.pop(next(iter(self._handled)))
            self._progress.notify_all()

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error_id = secrets.token_hex(4)
        log.error(
            "telegram: error %s while handling %s",
            error_id,
            getattr(update, "update_id", "an update"),
            exc_info=context.error,
        )

    # -- answering -----------------------------------------------------------------------

    async def _actor(self, user: User) -> Actor:
        name = _clamp(user.full_name) or (user.username or f"user {user.id}")
        return Actor(
            PLATFORM, str(user.id), name, is_manager=await self._managers.is_manager(user.id)
        )

    async def _answer(self, message: Message, user: User, replies: list[Reply]) -> None:
        chat_id = message.chat.id
        in_group = message.chat.type != ChatType.PRIVATE
        reply_to = message.message_id if in_group else None
        private: _Delivery | None = None
        for reply in replies:
            rendered = render(reply)
            if rendered.empty:
                continue
            if in_group and reply.private:
                if private in {None, _Delivery.SENT}:
                    private = await self._deliver(user.id, rendered)
                continue
            await self._deliver(chat_id, rendered, reply_to=reply_to)
        if private is not None:
            await self._deliver(chat_id, render(self._private_note(private)), reply_to=reply_to)

    def _private_note(self, outcome: _Delivery) -> Reply:
        if outcome is _Delivery.SENT:
            return Reply(text="I sent you the answer in a private message.")
        if outcome is _Delivery.REFUSED:
            return Reply(
                text=(
                    "I can't send you a private message yet: Telegram only lets me write to "
                    "people who have started a chat with me. Tap the button, press Start, "
                    "then send the command again."
                ),
                buttons=(Button("Start a chat with me", start_url(self.username)),),
            )
        return Reply(text="I could not send you a private message just now; please try again.")

    async def _deliver(
        self, chat_id: int, rendered: Rendered, *, reply_to: int | None = None
    ) -> _Delivery:
        """Send, waiting out flood control a couple of times; never raises."""
        for _attempt in range(3):
            try:
                await send_rendered(
                    self.application.bot,
                    chat_id,
                    rendered,
                    reply_to=reply_to,
                    max_wait=self.config.max_retry_after_seconds,
                )
            except TelegramRetryAfter as error:
                seconds = retry_after_seconds(error)
                if seconds > self.config.max_retry_after_seconds:
                    log.warning("telegram: dropping a reply to %s: flood control", chat_id)
                    return _Delivery.FAILED
                log.info("telegram: flood control in %s, retrying in %.1fs", chat_id, seconds)
                await asyncio.sleep(seconds)
                continue
            except TelegramError as error:
                if unreachable(error):
                    log.info("telegram: %s cannot be reached: %s", chat_id, error.message)
                    return _Delivery.REFUSED
                log.warning("telegram: could not answer in %s: %s", chat_id, error.message)
                return _Delivery.FAILED
            return _Delivery.SENT
        return _Delivery.FAILED


def _chat_kind(message: Message) -> ChatKind:
    return ChatKind.PRIVATE if message.chat.type == ChatType.PRIVATE else ChatKind.GROUP


def _clamp(name: str) -> str:
    """A name as stored and shown (the rule ``Actor`` applies to every adapter's names)."""
    return cleaned(name, DISPLAY_NAME_LIMIT)


def _polling_error(error: TelegramError) -> None:
    log.warning("telegram: polling failed, retrying: %s", error)
