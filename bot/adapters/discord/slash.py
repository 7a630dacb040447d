"""Slash commands generated from the command registry.

discord.py reads a command's options from its callback's signature, so each spec gets one
generated callback whose ``__signature__`` lists the spec's parameters with Discord types
(ranges, choices, users). The callback does no validation of its own: it hands the raw
values to the dispatcher, which re-validates them through the same spec the console and
Telegram use, so the registry stays the single source of truth.

Two-word commands (``program add``) become subcommands of a group (``/program add``).
Manager commands carry ``default_member_permissions`` (Manage Server) so that ordinary
members do not see them; the dispatcher still checks every call.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands

from commands.registry import Audience, CommandSpec, Param, ParamKind, Registry

log = logging.getLogger(__name__)

# Handles one invocation: the spec and the option values discord.py converted.
Runner = Callable[[discord.Interaction, CommandSpec, dict[str, Any]], Awaitable[None]]
# Suggestions for an autocomplete source (``program``) given what the user typed so far.
# (label shown, value sent) pairs for an autocomplete source given what was typed so far.
Suggester = Callable[[discord.Interaction, str, str], Awaitable[list[tuple[str, str]]]]

MAX_CHOICES = 25  # Discord's limit for choices and autocomplete results
DESCRIPTION_LIMIT = 100
MAX_STRING_LENGTH = 6000
# A bare command sharing its word with a group (``/cap`` beside ``/cap set``) cannot exist
# on Discord, where a group is not invocable; it becomes this subcommand of the group.
BARE_SUBCOMMAND = "show"


def build_commands(
    registry: Registry, run: Runner, suggest: Suggester
) -> list[app_commands.Command[Any, ..., Any] | app_commands.Group]:
    """One top-level app command or group per first word in the registry."""
    groups = registry.groups()
    made: dict[str, app_commands.Group] = {}
    top: list[app_commands.Command[Any, ..., Any] | app_commands.Group] = []
    for word, members in groups.items():
        group = app_commands.Group(
            name=word,
            description=_fit(f"{word.capitalize()} commands"),
            default_permissions=(
                _manager_permissions()
                if all(spec.audience is Audience.MANAGER for spec in members)
                else None
            ),
        )
        for spec in members:
            group.add_command(_command(spec, spec.words[1], run, suggest, parent=group))
        made[word] = group
        top.append(group)
    for spec in registry:
        if len(spec.words) != 1:
            continue
        if spec.name in made:
            group = made[spec.name]
            if group.get_command(BARE_SUBCOMMAND) is None:
                group.add_command(_command(spec, BARE_SUBCOMMAND, run, suggest, parent=group))
            else:
                log.warning("/%s clashes with its group on Discord and is left out", spec.name)
            continue
        top.append(_command(spec, spec.name, run, suggest, parent=None))
    return top


def _manager_permissions() -> discord.Permissions:
    return discord.Permissions(manage_guild=True)


def _command(
    spec: CommandSpec,
    name: str,
    run: Runner,
    suggest: Suggester,
    *,
    parent: app_commands.Group | None,
) -> app_commands.Command[Any, ..., Any]:
    async def callback(interaction: discord.Interaction, **values: Any) -> None:
        await run(interaction, spec, values)

    parameters = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )
    ]
    choices: dict[str, list[app_commands.Choice[str]]] = {}
    autocomplete: dict[str, Any] = {}
    # Discord lists required options first; Python signatures need that order too.
    for param in sorted(spec.params, key=lambda p: not _required(p)):
        parameters.append(
            inspect.Parameter(
                param.name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=_annotation(param),
                default=inspect.Parameter.empty if _required(param) else None,
            )
        )
        if param.choices and len(param.choices) <= MAX_CHOICES:
            choices[param.name] = [app_commands.Choice(name=c, value=c) for c in param.choices]
        elif param.choices or param.autocomplete:
            autocomplete[param.name] = _autocomplete(param, suggest)
    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    callback.__name__ = callback.__qualname__ = name.replace("-", "_")
    callback.__discord_app_commands_param_description__ = {  # type: ignore[attr-defined]
        param.name: _fit(param.description) for param in spec.params
    }
    callback.__discord_app_commands_param_rename__ = {  # type: ignore[attr-defined]
        param.name: param.keyword for param in spec.params if param.keyword != param.name
    }
    callback.__discord_app_commands_param_choices__ = choices  # type: ignore[attr-defined]
    callback.__discord_app_commands_param_autocomplete__ = autocomplete  # type: ignore[attr-defined]
    if spec.audience is Audience.MANAGER and parent is None:
        callback.__discord_app_commands_default_permissions__ = (  # type: ignore[attr-defined]
            _manager_permissions()
        )
    return app_commands.Command(
        name=name,
        description=_fit(spec.description),
        callback=callback,
        parent=parent,
        extras={"spec": spec},
    )


def _required(param: Param) -> bool:
    return param.required and param.kind is not ParamKind.FLAG


def _annotation(param: Param) -> Any:
    """The Discord option type for a parameter (``Optional`` when it may be left out)."""
    annotation: Any
    if param.kind is ParamKind.FLAG:
        annotation = bool
    elif param.kind is ParamKind.USER and not param.autocomplete:
        annotation = discord.User
    elif param.kind is ParamKind.NUMBER:
        annotation = float
    elif param.kind is ParamKind.INTEGER:
        annotation = (
            app_commands.Range[int, param.minimum, param.maximum]
            if param.minimum is not None or param.maximum is not None
            else int
        )
    else:
        annotation = app_commands.Range[
            str, max(param.min_length, 0), min(param.max_length, MAX_STRING_LENGTH)
        ]
    return annotation if _required(param) else annotation | None


def _autocomplete(param: Param, suggest: Suggester) -> Any:
    source = param.autocomplete or ""

    async def complete(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if param.choices:
            lowered = current.lower()
            pairs = [(choice, choice) for choice in param.choices if lowered in choice]
        else:
            pairs = await suggest(interaction, source, current)
        return [
            app_commands.Choice(name=_fit(label), value=value)
            for label, value in pairs[:MAX_CHOICES]
        ]

    return complete


def _fit(text: str) -> str:
    """Discord allows 100 characters in descriptions; cut at a word with an ellipsis."""
    text = " ".join(text.split()) or "…"
    if len(text) <= DESCRIPTION_LIMIT:
        return text
    return text[: DESCRIPTION_LIMIT - 1].rsplit(" ", 1)[0] + "…"


def raw_options(spec: CommandSpec, values: dict[str, Any]) -> dict[str, str]:
    """Option values as the raw text the dispatcher parses through the spec.

    Users become their id; numbers keep the digits the user typed (``repr`` of a float is
    its shortest round-trip form); flags become ``true``/``false``.
    """
    raw: dict[str, str] = {}
    kinds = {param.name: param.kind for param in spec.params}
    for name, value in values.items():
        if value is None or name not in kinds:
            continue
        if isinstance(value, bool):
            raw[name] = "true" if value else "false"
        elif isinstance(value, discord.abc.Snowflake):
            raw[name] = str(value.id)
        elif isinstance(value, float):
            raw[name] = _plain_number(value)
        else:
            raw[name] = str(value)
    return raw


def _plain_number(value: float) -> str:
    text = repr(value)
    if "e" in text or "E" in text:
        text = f"{value:.15f}".rstrip("0").rstrip(".")
    return text.removesuffix(".0")
