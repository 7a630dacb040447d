"""``docs/COMMANDS.md``, generated from the command registry.

The registry is the one description of every command, so the reference is rendered from
it rather than written by hand; a test fails when the file and the registry drift.
Regenerate with ``python -m bot.command_reference``.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

from commands.core import catalog, who
from commands.core.registry import Param, ParamKind, Registry

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "COMMANDS.md"

_INTRO = """\
# Commands

Generated from the command registry by `python -m bot.command_reference`; do not edit by
hand (a test fails when this file and the code drift apart).

Every command works the same on Discord (slash commands), Telegram and the console.
Arguments are positional; quote values with spaces (`"The Shop"`), and any parameter can
also be given as `--name value`. Options shown as `[--name <name>]` are only given that
way. *Private* commands answer only the caller (ephemeral on Discord, a direct message on
Telegram). Manager commands are refused, and the attempt logged, for everyone else.

Audience: *anyone* may run the command, enrolled or not; *affiliate* needs an affiliate
record (anyone who has used /join, whether their membership is pending, approved or the
affiliate is suspended; the command then says what their status allows, and people who
never joined are pointed to /programs); *manager* is for program managers only (configured
ids and platform roles). Non-managers are limited to a burst of commands per minute
(`[commands]` in the config) and get a short "try again in N seconds" past it.
"""


def render(registry: Registry) -> str:
    """The whole reference as Markdown."""
    lines = [_INTRO, "| command | parameters | audience | example |", "| --- | --- | --- | --- |"]
    for spec in registry:
        lines.append(
            "| "
            + " | ".join(
                (
                    f"`{_cell(spec.usage)}`<br>{_cell(spec.description)}"
                    + (" *(private)*" if spec.private else ""),
                    "<br>".join(_param(param) for param in spec.params) or "–",
                    spec.audience.value,
                    "<br>".join(f"`{_cell(example)}`" for example in spec.examples) or "–",
                )
            )
            + " |"
        )
    lines += ["", "## Naming an affiliate (`<who>`)", "", _who_help(), ""]
    lines += ["## Details", ""]
    for spec in registry:
        lines += [f"### /{spec.name}", "", spec.help, ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _param(param: Param) -> str:
    label = f"--{param.keyword}" if param.option or param.kind is ParamKind.FLAG else param.keyword
    optional = "" if param.required and not param.option else " (optional)"
    return f"`{label}`{optional}: {_cell(param.description)}"


def _who_help() -> str:
    text = inspect.cleandoc(who.__doc__ or "")
    return text.split("\n\n", 1)[1] if "\n\n" in text else text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def main() -> int:
    """Write the reference next to the other docs."""
    OUTPUT.write_text(render(catalog.load()), encoding="utf-8")
    sys.stdout.write(f"wrote {OUTPUT}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
