"""Counted words: the plural helper, and a scan that keeps every message on it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from commands.core.words import plural, sentence

ROOT = Path(__file__).resolve().parents[3]
# A plural suffix chosen inline ("s" if n != 1 else ""), or a "(s)" stuck on a noun.
_SUFFIXES = frozenset({"", "s", "es"})
_PAREN_PLURAL = re.compile(r"[A-Za-z]\((?:s|es)\)")


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (0, "0 affiliates are told."),
        (1, "1 affiliate is told."),
        (2, "2 affiliates are told."),
        (1250, "1,250 affiliates are told."),
    ],
)
def test_plural_picks_the_form_for_the_count(count: int, expected: str) -> None:
    assert plural(count, "{n} affiliate is told.", "{n} affiliates are told.") == expected


def test_plural_fills_the_other_values_as_text_not_as_templates() -> None:
    chosen = plural(1, "{who} has {n} badge", "{who} has {n} badges", who="Ann {n}")
    assert chosen == "Ann {n} has 1 badge"
    assert plural(3, "a {thing}", "{n} {thing}s", thing="click") == "3 clicks"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fraud", "fraud."),
        ("fraud.", "fraud."),
        ("really?", "really?"),
        ("stop!  ", "stop!"),
        ("wait…", "wait…"),
    ],
)
def test_sentence_ends_once(text: str, expected: str) -> None:
    assert sentence(text) == expected


def inline_plurals(source: str, name: str = "<source>") -> list[str]:
    """Places in ``source`` that choose a plural by hand instead of calling ``plural``."""
    found = []
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.IfExp):
            branches = (node.body, node.orelse)
            texts = [b.value for b in branches if isinstance(b, ast.Constant)]
            if len(texts) == 2 and all(isinstance(t, str) for t in texts):
                compares_to_one = isinstance(node.test, ast.Compare) and any(
                    isinstance(c, ast.Constant) and c.value == 1 for c in node.test.comparators
                )
                if set(texts) <= _SUFFIXES or compares_to_one:
                    found.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and _PAREN_PLURAL.search(node.value)
        ):
            found.append(f"{name}:{node.lineno}: {node.value!r}")
    return found


@pytest.mark.parametrize(
    "bad",
    [
        "text = f\"{n} conversion{'s' if n != 1 else ''}\"",
        'unit = "second" if wait == 1 else "seconds"',
        'text = f\'{n} match{"es" if n > 1 else ""}\'',
        'text = f"{n} conversion(s) approved"',
    ],
)
def test_the_scan_catches_hand_made_plurals(bad: str) -> None:
    assert inline_plurals(bad)


def test_the_scan_leaves_other_choices_alone() -> None:
    fine = '''
def f(n, a, b):
    """Links with http(s) URLs."""
    state = "paused" if n else "running"
    return a if n == 1 else b
'''
    assert inline_plurals(fine) == []


def test_no_message_in_commands_or_bot_makes_its_plural_by_hand() -> None:
    found = []
    for package in ("commands", "bot"):
        for path in sorted((ROOT / package).rglob("*.py")):
            found += inline_plurals(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert found == [], "use commands.core.words.plural for counted words:\n" + "\n".join(found)
