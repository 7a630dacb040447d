"""/help: what the caller can do, generated from the registry."""

from __future__ import annotations

from commands.core.catalog import command
from commands.core.dispatcher import allowed
from commands.core.errors import NotFound
from commands.core.invocation import Invocation
from commands.core.registry import Audience, CommandSpec, Param
from commands.core.reply import Field, Reply


@command(
    "help",
    "List the commands you can use, or explain one",
    params=[
        Param(
            "command",
            "A command to explain, like link",
            required=False,
            max_length=40,
            greedy=True,
        )
    ],
    examples=("/help", "/help link"),
)
async def show_help(invocation: Invocation, command: str | None) -> Reply:
    """Without a name, lists every command you may use with one line each.
    With a name (/help link), shows its usage, what it does and an example."""
    registry = invocation.services.registry
    actor = invocation.actor
    if command is not None:
        spec = registry.get(command)
        if spec is None or not allowed(spec, actor):
            group = [
                s
                for s in registry.groups().get(command.lower().lstrip("/"), [])
                if allowed(s, actor)
            ]
            if group:
                return Reply(
                    title=f"/{group[0].words[0]}",
                    text="\n".join(f"{s.usage} — {s.description}" for s in group),
                )
            raise NotFound(
                f"There is no command /{command.lstrip('/')} you can use. Type /help for the list."
            )
        fields = [Field("Usage", spec.usage, inline=False)]
        fields += [
            Field(f"{param.keyword}", param.description, inline=False) for param in spec.params
        ]
        if spec.examples:
            fields.append(Field("Example", "\n".join(spec.examples), inline=False))
        return Reply(title=f"/{spec.name}", text=spec.help, fields=tuple(fields))
    usable = [spec for spec in registry if allowed(spec, actor)]
    lines = [_line(spec) for spec in usable if spec.audience is not Audience.MANAGER]
    managing = [_line(spec) for spec in usable if spec.audience is Audience.MANAGER]
    if managing:
        lines += ["", "For managers:", *managing]
    return Reply(
        title="What you can do",
        text="\n".join(lines),
        notes=("Type /help <command> for its usage, details and an example.",),
    )


def _line(spec: CommandSpec) -> str:
    """The short form for the list: the usage when it is short, else the name."""
    usage = spec.usage if len(spec.usage) <= 48 else f"/{spec.name} …"
    return f"{usage} — {spec.description}"
