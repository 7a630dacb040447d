"""The command registry and its parser: the grammar every text adapter shares."""

from __future__ import annotations

from typing import Any

import pytest

from commands.core.errors import UsageError
from commands.core.money import is_amount_with_currency, parse_rate
from commands.core.registry import Audience, Param, ParamKind, Registry, tokenize
from commands.core.reply import Reply


async def _handler(invocation: object, **values: Any) -> Reply:
    return Reply(text=repr(values))


def make_registry() -> Registry:
    registry = Registry()
    registry.command(
        "announce",
        "Announce",
        params=[
            Param("text", "Body", greedy=True, multiline=True, max_length=2000),
            Param("dm", "Also privately", kind=ParamKind.FLAG),
        ],
        audience=Audience.MANAGER,
    )(_handler)
    registry.command(
        "program add",
        "Add",
        params=[
            Param("slug", "Slug"),
            Param("commission", "Rate", parse=parse_rate, absorbs=is_amount_with_currency),
            Param("name", "Name", required=False),
            Param(
                "window",
                "Days",
                kind=ParamKind.INTEGER,
                option=True,
                required=False,
                minimum=1,
                maximum=365,
                default=30,
            ),
        ],
    )(_handler)
    registry.command(
        "stats",
        "Stats",
        params=[
            Param(
                "period",
                "P",
                kind=ParamKind.CHOICE,
                choices=("week", "month"),
                required=False,
                default="month",
            )
        ],
    )(_handler)
    return registry


def parse(registry: Registry, line: str) -> dict[str, Any]:
    spec, _, rest = registry.resolve(line)
    assert spec is not None
    return spec.parse(rest)


def test_tokenizer_quotes_only_open_at_token_start() -> None:
    assert [t.text for t in tokenize("a \"b c\" don't “d e” 'f'")] == [
        "a",
        "b c",
        "don't",
        "d e",
        "f",
    ]
    with pytest.raises(UsageError, match="quote is not closed"):
        tokenize('a "b')


def test_two_word_commands_and_bot_suffix() -> None:
    registry = make_registry()
    spec, name, rest = registry.resolve("/program@affbot add shop 10%")
    assert spec is not None
    assert name == "program add"
    assert rest == "shop 10%"
    assert registry.resolve("/PROGRAM ADD x y")[1] == "program add"
    assert registry.resolve("/nope x") == (None, "nope", "x")
    assert registry.resolve("hello") == (None, "", "hello")


def test_positional_optional_and_named_values() -> None:
    registry = make_registry()
    assert parse(registry, '/program add shop 12% "The Shop"') == {
        "slug": "shop",
        "commission": parse_rate("12%"),
        "name": "The Shop",
        "window": 30,
    }
    assert parse(registry, "/program add shop 5 usd --window 7")["commission"] == parse_rate(
        "5 USD"
    )
    assert parse(registry, "/program add --name N --slug s 1%")["name"] == "N"
    assert parse(registry, "/program add shop 5 USD Name")["name"] == "Name"


def test_greedy_text_keeps_the_line_and_trailing_flags() -> None:
    registry = make_registry()
    assert parse(registry, '/announce Don\'t miss it -- big "news" --dm') == {
        "text": 'Don\'t miss it -- big "news"',
        "dm": True,
    }
    assert parse(registry, '/announce "quoted --dm inside"') == {
        "text": "quoted --dm inside",
        "dm": False,
    }
    assert parse(registry, "/announce line one\nline two")["text"] == "line one\nline two"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("/program add shop", "commission is missing"),
        ("/program add shop 12% N extra", "too many arguments"),
        ("/program add shop 12% --window", "--window needs a value"),
        ("/program add shop 12% --window 0", "window must be at least 1"),
        ("/program add shop 12% --window seven", "window must be a whole number"),
        ("/program add shop 12% --window 3 --window 4", "--window is given twice"),
        ("/program add shop 12% --colour red", "unknown option --colour"),
        ("/program add shop 12 %%", "is not a commission"),
        ("/program add shop 5 XYZ", "is not a commission"),
        ("/stats year", "period must be one of: week, month"),
        ("/program add sh\x1bop 12%", "control characters"),
        ("/program add sh\x00op 12%", "control characters"),  # PostgreSQL refuses NUL
        ("/program add sh\udcffop 12%", "is not valid UTF-8 text"),  # bytes, surrogateescaped
        ("/program add " + "s" * 101 + " 12%", "too long (101 characters, at most 100)"),
        ("/announce", "text is missing"),
    ],
)
def test_bad_input_names_the_problem(line: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse(make_registry(), line)


def test_usage_line_comes_from_the_spec() -> None:
    registry = make_registry()
    program_add = registry.get("program add")
    announce = registry.get("announce")
    assert program_add is not None
    assert announce is not None
    assert program_add.usage == "/program add <slug> <commission> [name] [--window <window>]"
    assert announce.usage == "/announce <text> [--dm]"


def test_specs_are_checked_when_registered() -> None:
    registry = make_registry()
    with pytest.raises(ValueError, match="registered twice"):
        registry.command("stats", "again")(_handler)
    with pytest.raises(ValueError, match="follows an optional one"):
        registry.command("bad", "x", params=[Param("a", "a", required=False), Param("b", "b")])(
            _handler
        )
    with pytest.raises(ValueError, match="a-z, 0-9 and _ only"):
        registry.command("reward-role", "x")(_handler)
    with pytest.raises(ValueError, match="only flags may follow a greedy"):
        registry.command("worse", "x", params=[Param("a", "a", greedy=True), Param("b", "b")])(
            _handler
        )
