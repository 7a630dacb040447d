"""Telegram commands generated from the registry: handler names, menus and their scopes.

Telegram command names are 1-32 of ``a-z 0-9 _``, so a two-word command such as
``program add`` appears in the menu as ``/program_add``. Both spellings work: the handler
for ``/program`` passes the whole line on (the registry resolves ``program add``), and
``/program_add …`` is rewritten to ``/program add …`` first.

The menu is published per scope: affiliate commands for everyone, every command in the
private chats of configured managers and, when announcement-chat administrators count as
managers, for those administrators in those chats.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from telegram import (
    Bot,
    BotCommand,
    BotCommandScope,
    BotCommandScopeChat,
    BotCommandScopeChatAdministrators,
    BotCommandScopeDefault,
)
from telegram.error import TelegramError

from commands.core.registry import Audience, CommandSpec, Registry

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
MENU_LIMIT = 100  # Telegram keeps at most 100 commands per scope
DESCRIPTION_LIMIT = 256


def telegram_name(words: Iterable[str]) -> str:
    """``("program", "add")`` → ``program_add``; raises for names Telegram cannot show."""
    name = "_".join(words).lower().replace("-", "_")
    if not _NAME.match(name):
        raise ValueError(f"/{name} cannot be a Telegram command (1-32 of a-z, 0-9, _)")
    return name


@dataclass(frozen=True, slots=True)
class CommandNames:
    """How Telegram command words map onto the registry."""

    handled: tuple[str, ...]  # every name a CommandHandler listens for
    aliases: dict[str, str]  # program_add → "program add"

    @classmethod
    def of(cls, registry: Registry) -> CommandNames:
        handled: list[str] = []
        aliases: dict[str, str] = {}
        for spec in registry:
            first = telegram_name(spec.words[:1])
            if first not in handled:
                handled.append(first)
            if len(spec.words) > 1:
                alias = telegram_name(spec.words)
                aliases[alias] = spec.name
                if alias not in handled:
                    handled.append(alias)
        return cls(tuple(handled), aliases)

    def to_line(self, text: str) -> str:
        """The command line for the dispatcher: ``/program_add@bot x`` → ``/program add x``."""
        head, space, rest = text.strip().partition(" ")
        word = head.removeprefix("/").split("@", 1)[0].lower()
        name = self.aliases.get(word)
        if name is None:
            return text.strip()
        return f"/{name}{space}{rest}"


def menu(specs: Iterable[CommandSpec]) -> list[BotCommand]:
    """Menu entries for these specs, in registry order, within Telegram's limits."""
    entries = []
    for spec in specs:
        description = spec.description.strip()
        if len(description) < 3:
            description = spec.usage
        entries.append(BotCommand(telegram_name(spec.words), description[:DESCRIPTION_LIMIT]))
    if len(entries) > MENU_LIMIT:
        log.warning("telegram menu: %s commands, only the first %s fit", len(entries), MENU_LIMIT)
    return entries[:MENU_LIMIT]


def scoped_menus(
    registry: Registry,
    *,
    manager_user_ids: Iterable[int],
    admin_chat_ids: Iterable[int],
) -> list[tuple[BotCommandScope, list[BotCommand]]]:
    """Which menu each scope gets; more specific scopes win in Telegram's clients."""
    everyone = menu(spec for spec in registry if spec.audience is not Audience.MANAGER)
    managers = menu(registry)
    scopes: list[tuple[BotCommandScope, list[BotCommand]]] = [(BotCommandScopeDefault(), everyone)]
    scopes += [(BotCommandScopeChat(user_id), managers) for user_id in manager_user_ids]
    scopes += [(BotCommandScopeChatAdministrators(chat), managers) for chat in admin_chat_ids]
    return scopes


async def publish(
    bot: Bot,
    registry: Registry,
    *,
    manager_user_ids: Iterable[int],
    admin_chat_ids: Iterable[int],
) -> None:
    """``setMyCommands`` for every scope; a refused scope (a manager who never started the
    bot, a chat the bot left) is logged and the others still go out."""
    for scope, commands in scoped_menus(
        registry, manager_user_ids=manager_user_ids, admin_chat_ids=admin_chat_ids
    ):
        try:
            await bot.set_my_commands(commands, scope=scope)
        except TelegramError as error:
            log.warning("telegram: could not set the command menu for %s: %s", scope.type, error)
