"""A fake Telegram Bot API server: the real python-telegram-bot talks to it over HTTP.

It serves ``POST /bot<TOKEN>/<method>`` on 127.0.0.1 (ephemeral port) the way the real Bot
API does: form-encoded or multipart requests, ``{"ok": true, "result": …}`` answers, long
polling on ``getUpdates`` fed by the test, and errors with ``error_code``/``description``
(plus ``parameters.retry_after`` for 429). Every call is recorded so tests can assert what
the bot sent. Failures are injected per method (and optionally per chat) with ``fail()``;
``block()`` makes a chat refuse messages the way a user who never started the bot does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from commands.fraud import FraudRules

BOT_ID = 7000001
# Fields PTB sends JSON-encoded; everything else (text, captions) is kept as typed.
_JSON_FIELDS = frozenset(
    {
        "chat_id",
        "user_id",
        "offset",
        "timeout",
        "limit",
        "message_id",
        "reply_markup",
        "reply_parameters",
        "commands",
        "scope",
        "allowed_updates",
        "link_preview_options",
        "disable_notification",
        "drop_pending_updates",
        "max_connections",
    }
)
_SENDING = frozenset({"sendMessage", "sendPhoto"})


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes]
    at: float

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def text(self) -> str:
        return str(self.params.get("text", self.params.get("caption", "")))

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Every inline keyboard button of the call, row by row."""
        markup = self.params.get("reply_markup") or {}
        return [button for row in markup.get("inline_keyboard", []) for button in row]


@dataclass
class _Failure:
    method: str
    status: int
    description: str
    retry_after: int | None
    chat_id: int | None
    remaining: int | None  # None: forever
    skip: int = 0  # let this many matching calls through first


@dataclass
class _Garbage:
    """A raw answer for one method: any body and status, optionally after a delay."""

    method: str
    body: bytes
    status: int
    delay: float
    remaining: int | None  # None: forever


@dataclass
class FakeTelegram:
    token: str = "123456:TEST-token"
    username: str = "affbot_test_bot"
    calls: list[Call] = field(default_factory=list)
    admins: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._changed = asyncio.Condition()
        self._failures: list[_Failure] = []
        self._garbage: list[_Garbage] = []
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.webhook: dict[str, Any] | None = None
        self.confirmed_offset = 0
        self.listeners: list[Callable[[Call], None]] = []

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        self._closing.set()
        async with self._changed:
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_root(self) -> str:
        """What ``telegram.api_base_url`` should be set to."""
        return f"http://127.0.0.1:{self.port}"

    # -- the test's side -----------------------------------------------------------------

    @staticmethod
    def user(user_id: int, first_name: str, **extra: Any) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": first_name, **extra}

    @staticmethod
    def group(chat_id: int, title: str = "Affiliates") -> dict[str, Any]:
        return {"id": chat_id, "type": "supergroup", "title": title}

    def say(self, user: dict[str, Any], text: str, chat: dict[str, Any] | None = None) -> int:
        """Queue a message typed by ``user`` (in their private chat unless ``chat``)."""
        if chat is None:
            chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": user,
            "text": text,
        }
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self.push({"message": message})

    def push(self, update: dict[str, Any]) -> int:
        """Queue a raw update (callback queries, edits…); returns its update_id."""
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, **update})
        asyncio.get_running_loop().create_task(self._notify())
        return update_id

    def make_update(self, user: dict[str, Any], text: str) -> dict[str, Any]:
        """An update as JSON without queuing it (for webhook tests)."""
        chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        command = text.split(maxsplit=1)[0]
        return {
            "update_id": next(self._update_ids),
            "message": {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": chat,
                "from": user,
                "text": text,
                "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}],
            },
        }

    def fail(
        self,
        method: str,
        status: int,
        *,
        description: str = "",
        retry_after: int | None = None,
        chat_id: int | None = None,
        times: int | None = 1,
        after: int = 0,
    ) -> None:
        """Answer ``times`` calls of ``method`` (to ``chat_id``) with an error, once
        ``after`` matching calls went through."""
        default = {
            429: "Too Many Requests: retry after",
            403: "Forbidden: bot was blocked by the user",
            500: "Internal Server Error",
            502: "Bad Gateway",
        }.get(status, "Bad Request")
        self._failures.append(
            _Failure(method, status, description or default, retry_after, chat_id, times, after)
        )

    def answer_raw(
        self,
        method: str,
        body: bytes,
        *,
        status: int = 200,
        delay: float = 0.0,
        times: int | None = 1,
    ) -> None:
        """Answer ``times`` calls of ``method`` with exactly ``body`` (not the Bot API's
        envelope: HTML from a proxy, JSON of the wrong shape), after ``delay`` seconds."""
        self._garbage.append(_Garbage(method, body, status, delay, times))

    def answer_normally(self) -> None:
        """Forget every :meth:`answer_raw`: the API recovers."""
        self._garbage.clear()

    def block(self, chat_id: int) -> None:
        """Refuse every message to this chat, as for a user who never started the bot."""
        for method in _SENDING:
            self.fail(
                method,
                403,
                description="Forbidden: bot can't initiate conversation with a user",
                chat_id=chat_id,
                times=None,
            )

    def sent(self, chat_id: int | None = None) -> list[Call]:
        """Messages and photos the bot sent (to one chat)."""
        return [
            call
            for call in self.calls
            if call.method in _SENDING and (chat_id is None or call.chat_id == chat_id)
        ]

    def of(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    async def wait_for(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + within
        async with self._changed:
            while not predicate():
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    raise TimeoutError("the bot did not do what the test waited for")
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    continue

    # -- the bot's side ------------------------------------------------------------------

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params, files = await _read_params(request)
        call = Call(method, params, files, time.monotonic())
        self.calls.append(call)
        for listener in self.listeners:
            listener(call)
        await self._notify()
        garbage = self._take_garbage(method)
        if garbage is not None:
            await asyncio.sleep(garbage.delay)
            return web.Response(body=garbage.body, status=garbage.status)
        failure = self._take_failure(method, params)
        if failure is not None:
            extra = {"retry_after": failure.retry_after} if failure.retry_after else None
            return _error(failure.status, failure.description, extra)
        snake = re.sub(r"(?<!^)([A-Z])", lambda m: "_" + m.group(1).lower(), method)
        handler = getattr(self, f"_api_{snake}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        result = await handler(params, files)
        if isinstance(result, _RaiseLater):
            return _error(result.status, result.description)
        return web.json_response({"ok": True, "result": result})

    def _take_garbage(self, method: str) -> _Garbage | None:
        for garbage in self._garbage:
            if garbage.method == method and garbage.remaining != 0:
                if garbage.remaining is not None:
                    garbage.remaining -= 1
                return garbage
        return None

    def _take_failure(self, method: str, params: dict[str, Any]) -> _Failure | None:
        for failure in self._failures:
            if failure.method != method or failure.remaining == 0:
                continue
            if failure.chat_id is not None and int(params.get("chat_id", 0)) != failure.chat_id:
                continue
            if failure.skip:
                failure.skip -= 1
                continue
            if failure.remaining is not None:
                failure.remaining -= 1
            return failure
        return None

    async def _api_get_me(self, _params: dict[str, Any], _files: Any) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "affbot",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _api_get_updates(self, params: dict[str, Any], _files: Any) -> list[dict[str, Any]]:
        offset = int(params.get("offset", 0) or 0)
        if offset:
            self.confirmed_offset = max(self.confirmed_offset, offset)
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        timeout = float(params.get("timeout", 0) or 0)
        limit = int(params.get("limit", 100) or 100)
        deadline = asyncio.get_running_loop().time() + timeout
        async with self._changed:
            while not self._updates and not self._closing.is_set():
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    break
        return self._updates[:limit]

    async def _api_delete_webhook(self, _params: dict[str, Any], _files: Any) -> bool:
        self.webhook = None
        return True

    async def _api_set_webhook(self, params: dict[str, Any], _files: Any) -> bool:
        self.webhook = params
        return True

    async def _api_set_my_commands(self, _params: dict[str, Any], _files: Any) -> bool:
        return True

    async def _api_delete_my_commands(self, _params: dict[str, Any], _files: Any) -> bool:
        return True

    async def _api_answer_callback_query(self, _params: dict[str, Any], _files: Any) -> bool:
        return True

    async def _api_send_message(self, params: dict[str, Any], _files: Any) -> dict[str, Any]:
        return self._message(params, text=params.get("text", ""))

    async def _api_send_photo(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        message = self._message(params, caption=params.get("caption", ""))
        size = len(files.get("photo", b""))
        message["photo"] = [
            {
                "file_id": "photo-1",
                "file_unique_id": "p1",
                "width": 1,
                "height": 1,
                "file_size": size,
            }
        ]
        return message

    async def _api_get_chat_administrators(self, params: dict[str, Any], _files: Any) -> Any:
        chat_id = int(params["chat_id"])
        if chat_id not in self.admins:
            return _RaiseLater(400, "Bad Request: chat not found")
        return [
            {"status": "administrator", "user": user, **_ADMIN_RIGHTS}
            for user in self.admins[chat_id]
        ]

    async def _api_get_chat_member(self, params: dict[str, Any], _files: Any) -> Any:
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        for user in self.admins.get(chat_id, []):
            if user["id"] == user_id:
                return {"status": "administrator", "user": user, **_ADMIN_RIGHTS}
        return {"status": "member", "user": self.user(user_id, "Member")}

    def _message(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        chat = (
            {"id": chat_id, "type": "private", "first_name": "User"}
            if chat_id > 0
            else self.group(chat_id)
        )
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "affbot"},
            **content,
        }


@dataclass(frozen=True)
class _RaiseLater:
    status: int
    description: str


_ADMIN_RIGHTS = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
}


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    params: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    if request.content_type == "application/json":
        return dict(await request.json()), files
    form = await request.post()
    for name, value in form.items():
        if isinstance(value, web.FileField):
            files[name] = value.file.read()
            continue
        text = str(value)
        if name in _JSON_FIELDS:
            try:
                params[name] = json.loads(text)
            except ValueError:
                params[name] = text
        else:
            params[name] = text
    # PTB sends an uploaded file as multipart with the field referring to attach://name.
    for name, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            key = value.removeprefix("attach://")
            if key in files:
                files[name] = files.pop(key)
    return params, files


def _error(
    status: int, description: str, parameters: dict[str, Any] | None = None
) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


class BotUnderTest:
    """The real adapter running against a :class:`FakeTelegram`; ``say`` returns what the
    bot sent in answer, once it has finished answering."""

    def __init__(self, fake: FakeTelegram, adapter: Any) -> None:
        self.fake = fake
        self.adapter = adapter

    async def say(
        self, user: dict[str, Any], text: str, chat: dict[str, Any] | None = None
    ) -> list[Call]:
        before = len(self.fake.calls)
        update_id = self.fake.say(user, text, chat)
        await self.adapter.wait_handled(update_id)
        return [call for call in self.fake.calls[before:] if call.method in _SENDING]


def telegram_config(fake: FakeTelegram, **overrides: Any) -> Any:
    """A TelegramConfig pointing at the fake, fast enough for tests."""
    from bot.config import TelegramConfig

    values: dict[str, Any] = {
        "token": fake.token,
        "api_base_url": fake.api_root,
        "poll_timeout": 1,
        "messages_per_second": 1000,
        "group_messages_per_minute": 1000,
        "seconds_between_messages_per_chat": 0,
        "max_retry_after_seconds": 5,
        **overrides,
    }
    return TelegramConfig.model_validate(values)


@contextlib.asynccontextmanager
async def running_bot(
    dispatcher: Any, fraud: FraudRules | None = None, **config: Any
) -> AsyncIterator[BotUnderTest]:
    """Start a fake Bot API and the real adapter on it; stop both afterwards."""
    from bot.adapters.telegram import TelegramAdapter

    fake = FakeTelegram()
    await fake.start()
    try:
        adapter = TelegramAdapter(
            telegram_config(fake, **config), dispatcher, fraud=fraud or FraudRules()
        )
        await adapter.start()
        try:
            yield BotUnderTest(fake, adapter)
        finally:
            await adapter.stop()
    finally:
        await fake.close()


# -- a person watching the bot work: python -m tests.fakes.telegram --------------------------

_DEMO_HELP = """fake Telegram Bot API on http://127.0.0.1:{port} (token {token})
Start affbot against it in another terminal:
  TELEGRAM_TOKEN={token} AFFBOT_TELEGRAM__API_BASE_URL=http://127.0.0.1:{port} \\
  AFFBOT_TELEGRAM__MANAGER_USER_IDS=10001 AFFBOT_TELEGRAM__POLL_TIMEOUT=5 affbot run
Then type lines here as people would type them into Telegram:
  maria: /program add shop https://shop.example 10%     (Maria, id 10001, a manager)
  alice: /join shop                                      (a private chat with the bot)
  group alice: /stats                                    (Alice, in the group -1001)
The first name you use gets id 10001, the next 10002, and so on."""


async def _demo(port: int) -> None:
    import sys
    import threading

    fake = FakeTelegram()
    people: dict[str, dict[str, Any]] = {}

    def show(call: Call) -> None:
        if call.method in _SENDING:
            buttons = "".join(f"\n    [{b['text']}] {b.get('url', '')}" for b in call.buttons)
            print(f"bot -> {call.chat_id} via {call.method}:\n{call.text}{buttons}\n", flush=True)
        elif call.method != "getUpdates":
            print(f"(bot called {call.method})", flush=True)

    fake.listeners.append(show)
    await fake.start(port)
    print(_DEMO_HELP.format(port=fake.port, token=fake.token), flush=True)
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=read, daemon=True).start()
    try:
        while (line := await lines.get()) is not None:
            who, _, text = line.strip().partition(":")
            if not text.strip():
                continue
            in_group = who.startswith("group ")
            name = who.removeprefix("group ").strip() or "alice"
            if name.lower() not in people:
                people[name.lower()] = fake.user(10001 + len(people), name.title())
            chat = fake.group(-1001) if in_group else None
            fake.say(people[name.lower()], text.strip(), chat)
    finally:
        await fake.close()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="a fake Telegram Bot API to watch affbot")
    parser.add_argument("--port", type=int, default=8081)
    asyncio.run(_demo(parser.parse_args().port))
