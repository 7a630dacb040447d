"""Binding already-split option values (Discord) through the same parameter specs as text.

``CommandSpec.bind`` is where the text parser ends and where typed platforms start: the
same limits, choices, ranges and sentences, and no second tokenizing, so whatever string
a platform hands over is what the handler receives.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from commands.core import catalog
from commands.core.dispatcher import Dispatcher
from commands.core.errors import UsageError
from commands.core.invocation import Actor, ChatKind, Invocation, Services, Settings
from commands.core.money import parse_rate
from commands.core.registry import CommandSpec, Param, ParamKind, Registry
from commands.core.reply import Reply
from storage import Database
from storage.migrate import upgrade
from tests.commands.core.test_registry import make_registry

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CATALOG = catalog.load()
MANAGER = Actor("discord", "900", "Maya", is_manager=True)
QUOTES = "\"'“”‘’„«»`"


def spec(name: str, registry: Registry | None = None) -> CommandSpec:
    found = (registry or make_registry()).get(name)
    assert found is not None
    return found


ANNOUNCE = spec("announce", CATALOG)


def outcome(call: Callable[[], dict[str, Any]]) -> tuple[str, object]:
    """What a call came to: its values, or the sentence it refused with."""
    try:
        return "values", call()
    except UsageError as error:
        return "usage", str(error)


def problem(spec: CommandSpec, values: Mapping[str, object]) -> str:
    with pytest.raises(UsageError) as caught:
        spec.bind(values)
    return str(caught.value)


def test_values_are_converted_by_their_parameter() -> None:
    assert spec("program add").bind({"slug": "shop", "commission": "5 usd", "window": 7}) == {
        "slug": "shop",
        "commission": parse_rate("5 USD"),
        "name": None,
        "window": 7,
    }
    assert (
        spec("program add").bind({"slug": "s", "commission": "1%", "window": "+12"})["window"]
        == 12
    )
    assert spec("stats").bind({}) == {"period": "month"}
    assert spec("stats").bind({"period": "WEEK"}) == {"period": "week"}
    assert spec("announce").bind({"text": "a\nb", "dm": True}) == {"text": "a\nb", "dm": True}
    assert spec("announce").bind({"text": "a", "dm": None}) == {"text": "a", "dm": False}
    assert spec("announce").bind({"text": "a", "dm": False})["dm"] is False


def test_numbers_reach_parse_as_the_digits_a_person_types() -> None:
    amount = Param("amount", "How much", kind=ParamKind.NUMBER)
    assert [amount.convert(value) for value in (12.5, 3, 3.0, 1e-05, 2e16)] == [
        "12.5",
        "3",
        "3",
        "0.00001",
        "20000000000000000",
    ]
    exact = Param("amount", "How much", kind=ParamKind.NUMBER, parse=Decimal)
    assert exact.convert(0.1) == Decimal("0.1")  # not 0.1000000000000000055511151231257827


@pytest.mark.parametrize(
    ("command", "values", "sentence"),
    [
        ("program add", {"slug": "shop"}, "commission is missing"),
        ("program add", {"slug": "shop", "commission": None}, "commission is missing"),
        (
            "program add",
            {"slug": "s", "commission": "1%", "window": 0},
            "window must be at least 1",
        ),
        (
            "program add",
            {"slug": "s", "commission": "1%", "window": 366},
            "window must be at most 365",
        ),
        (
            "program add",
            {"slug": "s", "commission": "1%", "window": "seven"},
            "window must be a whole number, not 'seven'",
        ),
        (
            "program add",
            {"slug": "s", "commission": "1%", "window": 10**18},
            "window must be a whole number, not '1000000000000000000'",
        ),
        (
            "program add",
            {"slug": "s", "commission": "1%", "colour": "red"},
            "unknown option --colour",
        ),
        ("program add", {"slug": "s", "commission": "12 %%"}, "'12 %%' is not a commission"),
        (
            "program add",
            {"slug": "sh\x1bop", "commission": "1%"},
            "slug contains control characters",
        ),
        ("program add", {"slug": "a\nb", "commission": "1%"}, "slug contains control characters"),
        ("program add", {"slug": "", "commission": "1%"}, "slug is empty"),
        (
            "program add",
            {"slug": "s" * 101, "commission": "1%"},
            "slug is too long (101 characters, at most 100)",
        ),
        ("stats", {"period": "year"}, "period must be one of: week, month"),
        ("announce", {}, "text is missing"),
        ("announce", {"text": "x" * 2001}, "text is too long (2001 characters, at most 2000)"),
    ],
)
def test_bad_values_get_the_sentence_the_text_parser_gives(
    command: str, values: dict[str, object], sentence: str
) -> None:
    assert problem(spec(command), values).startswith(sentence)


def test_the_text_parser_says_the_same_for_the_same_values() -> None:
    add = spec("program add")
    cases: list[tuple[str, dict[str, object]]] = [
        ("shop", {"slug": "shop"}),
        ("s 1% --window 0", {"slug": "s", "commission": "1%", "window": 0}),
        ("s 1% --window seven", {"slug": "s", "commission": "1%", "window": "seven"}),
        ("s 1% --colour red", {"slug": "s", "commission": "1%", "colour": "red"}),
        ("sh\x1bop 1%", {"slug": "sh\x1bop", "commission": "1%"}),
    ]
    for line, values in cases:
        with pytest.raises(UsageError) as parsed:
            add.parse(line)
        assert problem(add, values) == str(parsed.value)


@pytest.mark.parametrize(
    ("command", "values"),
    [
        ("announce", {"text": "x", "dm": "true"}),  # flags are bools, never text
        ("announce", {"text": "x", "dm": 1}),
        ("announce", {"text": 5}),
        ("program add", {"slug": "s", "commission": "1%", "window": True}),
        ("program add", {"slug": "s", "commission": "1%", "window": 7.0}),
    ],
)
def test_a_value_of_the_wrong_type_is_the_adapters_mistake(
    command: str, values: dict[str, object]
) -> None:
    with pytest.raises(TypeError, match="parameter and cannot take"):
        spec(command).bind(values)


# Text an announcement may carry: anything but control characters other than line breaks
# and tabs, which the spec refuses with its own sentence (checked below).
ANNOUNCEABLE = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"])
    | st.sampled_from([*QUOTES, "\n", "\t", " ", "-"]),
    min_size=1,
    max_size=300,
)
WORDS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12
).filter(lambda word: not any(char.isspace() for char in word) and word[0] not in QUOTES)


@FUZZ
@given(text=ANNOUNCEABLE | st.sampled_from(["--dm", '"x"', "'"]), dm=st.booleans())
@example(text='Use code "SPRING"', dm=False)
@example(text='"quoted from start to end"', dm=True)
@example(text="it's --dm and “curly” ‘single’ „low“ «guillemets»", dm=False)
@example(text='  padded  "', dm=False)
def test_bind_hands_any_text_over_unchanged(text: str, dm: bool) -> None:
    assert ANNOUNCE.bind({"text": text, "dm": dm}) == {"text": text, "dm": dm, "ping": False}


class _Core:
    """The dispatcher on a migrated SQLite database, with ``/announce``'s own parameters
    registered to a handler that keeps what it was called with."""

    def __init__(self, tmp: Path) -> None:
        self.runner = asyncio.Runner()
        self.database = Database.connect(f"sqlite:///{tmp / 'bind.db'}")
        self.runner.run(upgrade(self.database))
        self.received: list[dict[str, Any]] = []
        registry = Registry()

        @registry.command(
            ANNOUNCE.name, ANNOUNCE.description, params=ANNOUNCE.params, audience=ANNOUNCE.audience
        )
        async def record(invocation: Invocation, **values: Any) -> Reply:
            self.received.append(values)
            return Reply(text="recorded")

        services = Services(
            database=self.database,
            settings=Settings(public_base_url="https://go.example.test"),
            clock=lambda: datetime(2026, 11, 18, 12, 0, tzinfo=UTC),
            registry=registry,
        )
        self.dispatcher = Dispatcher(registry, services)
        found = registry.get(ANNOUNCE.name)
        assert found is not None
        self.spec = found

    def execute(self, options: dict[str, object]) -> list[Reply]:
        return self.runner.run(
            self.dispatcher.execute(self.spec, options, MANAGER, ChatKind.GROUP)
        )

    def close(self) -> None:
        self.runner.run(self.database.close())
        self.runner.close()


@pytest.fixture
def core(tmp_path: Path) -> Iterator[_Core]:
    with closing(_Core(tmp_path)) as made:
        yield made


@FUZZ
@given(
    text=ANNOUNCEABLE | st.text(min_size=0, max_size=40) | st.just("x" * 2001),
    dm=st.booleans() | st.none(),
    ping=st.booleans() | st.none(),
)
@example(text='Use code "SPRING" --dm', dm=None, ping=None)
def test_the_handler_receives_what_bind_returns(
    core: _Core, text: str, dm: bool | None, ping: bool | None
) -> None:
    options: dict[str, object] = {"text": text, "dm": dm, "ping": ping}
    kind, expected = outcome(lambda: core.spec.bind(options))
    (reply,) = core.execute(options)
    if kind == "usage":
        sentence = str(expected)
        assert reply.text.startswith(f"{sentence[0].upper()}{sentence[1:]}.\nUsage: /announce")
        assert not core.received
        return
    assert reply.text == "recorded"
    assert core.received.pop() == expected == {"text": text, "dm": bool(dm), "ping": bool(ping)}


def _refusable(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text)


@FUZZ
@given(text=st.text(max_size=50))
def test_only_empty_text_or_control_characters_are_refused(text: str) -> None:
    result = outcome(lambda: ANNOUNCE.bind({"text": text}))
    if not text:
        assert result == ("usage", "text is empty")
    elif _refusable(text):
        assert result == ("usage", "text contains control characters")
    else:
        assert result == ("values", {"text": text, "dm": False, "ping": False})


SPECS = sorted(CATALOG, key=lambda found: found.name)


@FUZZ
@given(index=st.integers(0, len(SPECS) - 1), data=st.data())
def test_bind_and_the_text_parser_agree_on_single_words(index: int, data: st.DataObject) -> None:
    """The same word given by ``--name word`` or as a value gets the same result or the
    same sentence: one ``Param.convert`` behind both."""
    found = SPECS[index]
    values: dict[str, object] = {}
    words: list[str] = []
    for param in found.params:
        if not data.draw(st.booleans(), label=f"give {param.name}"):
            continue
        if param.kind is ParamKind.FLAG:
            values[param.name] = True
            words.append(f"--{param.keyword}")
            continue
        pool = list(param.choices) or ["7", "0", "abc", "1%", "5USD", "#1", "https://x.example"]
        word = data.draw(WORDS | st.sampled_from(pool), label=param.name)
        values[param.name] = word
        words += [f"--{param.keyword}", word]
    line = " ".join(words)
    assert outcome(lambda: found.parse(line)) == outcome(lambda: found.bind(values)), line
