"""docs/COMMANDS.md is generated from the registry; this fails when they drift."""

from __future__ import annotations

from pathlib import Path

from bot.command_reference import OUTPUT, render
from commands.core import catalog


def test_commands_md_matches_the_registry() -> None:
    expected = render(catalog.load())
    actual = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
    assert actual == expected, (
        "docs/COMMANDS.md is out of date: run `python -m bot.command_reference`"
    )


def test_every_command_is_in_the_table_with_an_example() -> None:
    text = Path(OUTPUT).read_text(encoding="utf-8")
    for spec in catalog.load():
        assert f"| `{spec.usage.replace('|', chr(92) + '|')}`" in text
        assert spec.examples, f"/{spec.name} has no example"
        assert f"### /{spec.name}" in text
