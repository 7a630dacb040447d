"""Slash commands generated from the command registry.

discord.py reads a command's options from its callback's signature, so each spec gets one
generated callback whose ``__signature__`` lists the spec's parameters with Discord types
(ranges, users), dressed with discord.py's public decorators (``describe``, ``rename``,
``choices``, ``autocomplete``, ``default_permissions``). The callback does no validation of
its own: it hands the values to the dispatcher, which binds each one through the same spec
the console and Telegram use (``CommandSpec.bind``), so the registry stays the single source
of truth, and no value is ever turned back into a command line.

Two-word commands (``program add``) become subcommands of a group (``/program add``).
Manager commands carry ``default_member_permissions`` (Manage Server) so that ordinary
members do not see them; the dispatcher still checks every call.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

import discord
from discord import app_commands

from commands.core.registry import Audience, CommandSpec, Param, ParamKind, Registry

log = logging.getLogger(__name__)

# Handles one invocation: the spec and the option values discord.py converted.
Runner = Callable[[discord.Interaction, CommandSpec, dict[str, Any]], Awaitable[None]]
# (label shown, value sent) pairs for an autocomplete source given what was typed so far.
Suggester = Callable[[discord.Interaction, str, str], Awaitable[list[tuple[str, str]]]]
# One option's autocomplete callback, as discord.py calls it.
Completer = Callable[
    [discord.Interaction, str], Coroutine[Any, Any, list[app_commands.Choice[str]]]
]

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

    callback.__name__ = callback.__qualname__ = name.replace("-", "_")
    _give_signature(callback, spec)
    choices: dict[str, list[app_commands.Choice[str]]] = {}
    autocomplete: dict[str, Completer] = {}
    for param in spec.params:
        if param.choices and len(param.choices) <= MAX_CHOICES:
            choices[param.name] = [app_commands.Choice(name=c, value=c) for c in param.choices]
        elif param.choices or param.autocomplete:
            autocomplete[param.name] = _autocomplete(param, suggest)
    decorators = [
        app_commands.describe(**{param.name: _fit(param.description) for param in spec.params}),
        app_commands.rename(
            **{param.name: param.keyword for param in spec.params if param.keyword != param.name}
        ),
        app_commands.choices(**choices),
        app_commands.autocomplete(**autocomplete),
    ]
    if spec.audience is Audience.MANAGER and parent is None:
        # Only top-level commands carry default permissions; a subcommand has its group's.
        decorators.append(app_commands.default_permissions(_manager_permissions()))
    for decorate in decorators:
        decorate(callback)
    return app_commands.Command(
        name=name,
        description=_fit(spec.description),
        callback=callback,
        parent=parent,
        extras={"spec": spec},
    )


def _give_signature(callback: Callable[..., Awaitable[None]], spec: CommandSpec) -> None:
    """List the spec's parameters, with Discord types, in the callback's signature.

    discord.py reads options through ``inspect.signature``, which honours a
    ``__signature__`` attribute (PEP 362). Functions accept any attribute, but typeshed
    does not declare this one, so it goes into the function's ``__dict__`` directly.
    Discord lists required options first; Python signatures need that order too.
    """
    parameters = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )
    ]
    for param in sorted(spec.params, key=lambda p: not _required(p)):
        parameters.append(
            inspect.Parameter(
                param.name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=_annotation(param),
                default=inspect.Parameter.empty if _required(param) else None,
            )
        )
    callback.__dict__["__signature__"] = inspect.Signature(parameters)


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


def _autocomplete(param: Param, suggest: Suggester) -> Completer:
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


def option_values(values: Mapping[str, Any]) -> dict[str, object]:
    """Option values as the core binds them (``CommandSpec.bind``): a user becomes their
    id; text, whole numbers, numbers and flags stay as discord.py converted them, and an
    option left out stays ``None``."""
    return {
        name: str(value.id) if isinstance(value, discord.abc.Snowflake) else value
        for name, value in values.items()
    }
