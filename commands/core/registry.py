"""Commands as data: specs with typed parameters, registered by a decorator.

Adapters generate their platform's commands from these specs (Discord options, Telegram
command lists, console lines) and the help text comes from them too, so a command is
described exactly once. The text parser here is shared by the console and Telegram.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from commands.core.errors import UsageError
from commands.core.text import problem as text_problem

if TYPE_CHECKING:
    from commands.core.reply import Reply

Handler = Callable[..., Awaitable["Reply | list[Reply]"]]

MAX_DIGITS = 18  # whole numbers stay well inside a 64-bit column


class Audience(StrEnum):
    """Who may run a command: ``anyone``, an enrolled ``affiliate``, or a ``manager``."""

    ANYONE = "anyone"
    AFFILIATE = "affiliate"
    MANAGER = "manager"


class ParamKind(StrEnum):
    """The type a parameter has on platforms with typed options (Discord)."""

    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    CHOICE = "choice"
    URL = "url"
    USER = "user"
    FLAG = "flag"


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter.

    ``parse`` turns the raw text into the handler's value and raises ``ValueError`` with a
    sentence for the user. ``greedy`` takes the rest of the line (announcement bodies);
    ``multiline`` allows line breaks in it. Any parameter can be given as ``--name value``;
    ``option`` parameters only that way, and flags only as ``--name``.
    """

    name: str
    description: str
    kind: ParamKind = ParamKind.TEXT
    required: bool = True
    choices: tuple[str, ...] = ()
    default: Any = None
    min_length: int = 1
    max_length: int = 100
    minimum: int | None = None
    maximum: int | None = None
    greedy: bool = False
    multiline: bool = False
    option: bool = False  # only as --name value, never positional
    # Whether the next token belongs to this value (``5 USD`` typed without quotes).
    absorbs: Callable[[str, str], bool] | None = None
    autocomplete: str | None = None  # a name adapters map to a suggestion source
    parse: Callable[[str], Any] | None = None

    @property
    def keyword(self) -> str:
        return self.name.replace("_", "-")

    def convert(self, value: object) -> Any:
        """Validate and convert one whole value; ``ValueError`` names what was wrong.

        Text is checked as typed (length, control characters, choices, ``parse``), whether
        it came from a tokenized line or a platform's own option field. Platforms with typed
        options also hand in ints for integers, floats for numbers and bools for flags; those
        meet the same ranges and sentences without being turned back into text, except that a
        number becomes its shortest decimal form for ``parse``, which reads text.

        Raises:
            ValueError: the user's value breaks the spec, in a sentence for them.
            TypeError: a value of a type this parameter never takes: an adapter's mistake.
        """
        if self.kind is ParamKind.FLAG:
            if isinstance(value, bool):
                return value
        elif isinstance(value, str):
            return self._convert_text(value)
        elif isinstance(value, bool):
            pass  # a flag's value, whatever int says about bool
        elif self.kind is ParamKind.INTEGER and isinstance(value, int):
            return self._whole_number(value)
        elif self.kind is ParamKind.NUMBER and isinstance(value, int | float):
            return self._convert_text(_plain_number(value))
        raise TypeError(
            f"{self.name} is a {self.kind.value} parameter and cannot take "
            f"{type(value).__name__} {value!r}"
        )

    def _convert_text(self, raw: str) -> Any:
        _check_text(raw, self)
        if self.choices:
            lowered = raw.lower()
            if lowered not in self.choices:
                raise ValueError(f"{self.keyword} must be one of: {', '.join(self.choices)}")
            raw = lowered
        if self.kind is ParamKind.INTEGER:
            if not re.fullmatch(rf"[+-]?\d{{1,{MAX_DIGITS}}}", raw):
                raise ValueError(f"{self.keyword} must be a whole number, not {raw!r}")
            return self._whole_number(int(raw))
        if self.parse is not None:
            return self.parse(raw)
        return raw

    def _whole_number(self, number: int) -> int:
        if len(str(abs(number))) > MAX_DIGITS:
            raise ValueError(f"{self.keyword} must be a whole number, not {str(number)!r}")
        if self.minimum is not None and number < self.minimum:
            raise ValueError(f"{self.keyword} must be at least {self.minimum}")
        if self.maximum is not None and number > self.maximum:
            raise ValueError(f"{self.keyword} must be at most {self.maximum}")
        return number


def _check_text(raw: str, param: Param) -> None:
    if len(raw) < param.min_length:
        raise ValueError(f"{param.keyword} is empty")
    if len(raw) > param.max_length:
        raise ValueError(
            f"{param.keyword} is too long ({len(raw)} characters, at most {param.max_length})"
        )
    reason = text_problem(raw, param.max_length, allow="\n\t" if param.multiline else "")
    if reason is not None:
        raise ValueError(f"{param.keyword} {reason}")


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    description: str
    handler: Handler
    params: tuple[Param, ...] = ()
    audience: Audience = Audience.ANYONE
    examples: tuple[str, ...] = ()
    private: bool = False  # replies carry the caller's own numbers: adapters answer privately

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.name.split())

    @property
    def usage(self) -> str:
        parts = [f"/{self.name}"]
        for param in self.params:
            label = param.keyword
            if param.kind is ParamKind.FLAG:
                parts.append(f"[--{label}]")
            elif param.option:
                parts.append(f"[--{label} <{label}>]")
            elif param.choices and len(param.choices) <= 5:
                choice = "|".join(param.choices)
                parts.append(f"<{choice}>" if param.required else f"[{choice}]")
            else:
                parts.append(f"<{label}>" if param.required else f"[{label}]")
        return " ".join(parts)

    @property
    def help(self) -> str:
        """The long help: the handler's docstring, which documents the command for users."""
        text = inspect.cleandoc(self.handler.__doc__ or self.description)
        paragraphs = (" ".join(part.split()) for part in text.split("\n\n"))
        return "\n\n".join(paragraphs)

    def parse(self, text: str) -> dict[str, Any]:
        """Parse the argument text (after the command words) into handler keyword arguments.

        Raises:
            UsageError: with a sentence naming the problem.
        """
        return self.bind(_split_arguments(self, text))

    def bind(self, values: Mapping[str, object]) -> dict[str, Any]:
        """Validate whole values, one per parameter, into handler keyword arguments.

        The text parser ends here after splitting a line, and platforms that split options
        themselves (Discord) start here, so both meet the same ``Param.convert``: the same
        limits, choices, ranges and sentences. Nothing is tokenized again, so a string
        arrives exactly as given, quotes, ``--dm`` and all. ``None`` means not given: a
        flag is then off and an optional parameter takes its default.

        Raises:
            UsageError: with the sentence the text parser gives for the same value.
            TypeError: a value of a type the parameter never takes (an adapter's mistake).
        """
        names = {param.name for param in self.params}
        for name in values:
            if name not in names:
                raise UsageError(f"unknown option --{name.replace('_', '-')}")
        bound: dict[str, Any] = {}
        for param in self.params:
            value = values.get(param.name)
            if value is None:
                if param.kind is ParamKind.FLAG:
                    bound[param.name] = False
                elif param.required:
                    raise UsageError(f"{param.keyword} is missing")
                else:
                    bound[param.name] = param.default
                continue
            try:
                bound[param.name] = param.convert(value)
            except ValueError as error:
                raise UsageError(str(error)) from None
        return bound


@dataclass
class Registry:
    """All commands, looked up by their words (``program add`` is two words)."""

    _specs: dict[tuple[str, ...], CommandSpec] = field(default_factory=dict)

    def command(
        self,
        name: str,
        description: str,
        *,
        params: Iterable[Param] = (),
        audience: Audience = Audience.ANYONE,
        examples: Iterable[str] = (),
        private: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Register the decorated coroutine as the handler of ``/name``."""

        def register(handler: Handler) -> Handler:
            spec = CommandSpec(
                name=name,
                description=description,
                handler=handler,
                params=tuple(params),
                audience=audience,
                examples=tuple(examples),
                private=private,
            )
            _check_spec(spec)
            if spec.words in self._specs:
                raise ValueError(f"/{name} is registered twice")
            self._specs[spec.words] = spec
            return handler

        return register

    def __iter__(self) -> Iterator[CommandSpec]:
        return iter(sorted(self._specs.values(), key=lambda spec: spec.name))

    def __len__(self) -> int:
        return len(self._specs)

    def get(self, name: str) -> CommandSpec | None:
        return self._specs.get(tuple(name.lower().removeprefix("/").split()))

    def groups(self) -> dict[str, list[CommandSpec]]:
        """Commands with two words, by their first word (``program`` → add, pause, …)."""
        grouped: dict[str, list[CommandSpec]] = {}
        for spec in self:
            if len(spec.words) == 2:
                grouped.setdefault(spec.words[0], []).append(spec)
        return grouped

    def resolve(self, line: str) -> tuple[CommandSpec | None, str, str]:
        """Split ``/program add x y`` into (spec, "program add", "x y").

        Returns ``(None, word, rest)`` when nothing matches; ``word`` may name a group.
        A ``@botname`` suffix on the first word (Telegram groups) is ignored.
        """
        stripped = line.strip()
        if not stripped.startswith("/"):
            return None, "", stripped
        head, _, rest = stripped[1:].partition(" ")
        first = head.split("@", 1)[0].lower()
        second, _, tail = rest.lstrip().partition(" ")
        two = self._specs.get((first, second.lower()))
        if two is not None:
            return two, two.name, tail.strip()
        one = self._specs.get((first,))
        if one is not None:
            return one, one.name, rest.strip()
        return None, first, rest.strip()


# Command words every platform accepts: Telegram allows only a-z, 0-9 and _ (a hyphen
# would end the command there), and Discord's names are a superset.
_WORD = re.compile(r"^[a-z0-9_]{1,32}$")


def _check_spec(spec: CommandSpec) -> None:
    if not spec.words or len(spec.words) > 2 or not all(map(_WORD.match, spec.words)):
        raise ValueError(f"/{spec.name}: one or two words of a-z, 0-9 and _ only")
    seen_optional = False
    for index, param in enumerate(spec.params):
        later = spec.params[index + 1 :]
        if param.greedy and not all(p.kind is ParamKind.FLAG for p in later):
            raise ValueError(f"/{spec.name}: only flags may follow a greedy parameter")
        if param.kind is ParamKind.FLAG or param.option:
            if param.option and param.required:
                raise ValueError(f"/{spec.name}: option {param.name} cannot be required")
            continue
        if param.required and seen_optional:
            raise ValueError(f"/{spec.name}: required {param.name} follows an optional one")
        seen_optional = seen_optional or not param.required


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    start: int
    quoted: bool


def tokenize(text: str) -> list[_Token]:
    """Split on whitespace; a token starting with a quote runs to the matching quote.

    Quotes only open at the start of a token, so apostrophes in words (``don't``) are
    ordinary characters.

    Raises:
        UsageError: an opening quote without its closing quote.
    """
    tokens: list[_Token] = []
    index = 0
    length = len(text)
    while index < length:
        if text[index].isspace():
            index += 1
            continue
        start = index
        if text[index] in "\"'“”‘’":
            closing = {"“": "”", "‘": "’"}.get(text[index], text[index])
            end = text.find(closing, index + 1)
            if end == -1 and text[index] in "”’":
                end = text.find(text[index], index + 1)
            if end == -1:
                raise UsageError("a quote is not closed")
            tokens.append(_Token(text[index + 1 : end], start, quoted=True))
            index = end + 1
            continue
        while index < length and not text[index].isspace():
            index += 1
        tokens.append(_Token(text[start:index], start, quoted=False))
    return tokens


def _split_arguments(spec: CommandSpec, text: str) -> dict[str, str | bool]:
    """Assign the raw text of each given parameter, positionally or by ``--name``; a flag
    that is given is ``True``."""
    by_keyword = {param.keyword: param for param in spec.params}
    raw: dict[str, str | bool] = {}
    pending = [p for p in spec.params if p.kind is not ParamKind.FLAG and not p.option]
    queue = tokenize(text)
    while queue:
        token = queue.pop(0)
        if not token.quoted and token.text.startswith("--") and len(token.text) > 2:
            _take_option(token.text[2:].lower(), queue, by_keyword, raw)
            continue
        pending = [param for param in pending if param.name not in raw]
        if not pending:
            raise UsageError(f"too many arguments (from {token.text!r} on)")
        param = pending.pop(0)
        if param.greedy:
            trailing = _trailing_flags(queue, by_keyword)
            if token.quoted and len(queue) == len(trailing):
                raw[param.name] = token.text
            else:
                end = trailing[0].start if trailing else len(text)
                raw[param.name] = text[token.start : end].strip()
            queue = trailing
            continue
        value = token.text
        absorbs = param.absorbs
        if absorbs and queue and not queue[0].quoted and absorbs(value, queue[0].text):
            value = f"{value} {queue.pop(0).text}"
        raw[param.name] = value
    return raw


def _take_option(
    keyword: str, queue: list[_Token], by_keyword: dict[str, Param], raw: dict[str, str | bool]
) -> None:
    param = by_keyword.get(keyword)
    if param is None:
        raise UsageError(f"unknown option --{keyword}")
    if param.name in raw:
        raise UsageError(f"--{keyword} is given twice")
    if param.kind is ParamKind.FLAG:
        raw[param.name] = True
        return
    if not queue:
        raise UsageError(f"--{keyword} needs a value")
    raw[param.name] = queue.pop(0).text


def _trailing_flags(queue: list[_Token], by_keyword: dict[str, Param]) -> list[_Token]:
    """The run of known ``--flag`` tokens at the very end of the line, if any."""
    count = 0
    for token in reversed(queue):
        keyword = token.text[2:].lower() if token.text.startswith("--") else None
        param = by_keyword.get(keyword) if keyword else None
        if token.quoted or param is None or param.kind is not ParamKind.FLAG:
            break
        count += 1
    return queue[len(queue) - count :] if count else []


def _plain_number(value: float) -> str:
    """A number as a person would type it: shortest round-trip digits, no exponent, no
    ``.0`` on a whole number (``12.5``, ``0.0001``, ``3``)."""
    text = repr(value)
    if "e" in text or "E" in text:
        text = f"{value:.15f}".rstrip("0").rstrip(".")
    return text.removesuffix(".0")
