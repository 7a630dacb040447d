"""The neutral ``Reply`` as Telegram HTML: escaped once, split under the length limit.

Every string in a Reply may hold anything a user typed, so all of it goes through
:func:`escape`; the only markup in the output is the tags this module writes. A reply becomes
a list of *atoms* (a piece of raw text and the tag it sits in) that are packed greedily into
messages of at most :data:`MESSAGE_LIMIT` UTF-16 code units of HTML source (what Telegram
counts; the source is never shorter than the text Telegram shows, so this is safe). An atom
never straddles two messages unless it alone is too long, and then each piece is wrapped
in its own copy of the tag, so no message ever holds a broken tag or entity.
"""

from __future__ import annotations

import html
import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from commands.core.reply import Button, Image, Reply, Table

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
_TAGS = {None: ("", ""), "b": ("<b>", "</b>"), "i": ("<i>", "</i>"), "pre": ("<pre>", "</pre>")}
# "@name" in bot text would become a mention Telegram notifies; a word joiner defuses it.
_MENTION = re.compile(r"@(?=\w)")
_WORD_JOINER = "\u2060"

Tag = str | None


@dataclass(frozen=True, slots=True)
class Rendered:
    """What to send for one Reply: an optional photo, then the messages, buttons on the last."""

    messages: tuple[str, ...]
    photo: Image | None = None
    caption: str = ""
    buttons: tuple[Button, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.messages and self.photo is None


def escape(text: str, *, tag: Tag = None) -> str:
    """Telegram HTML for plain text: ``<``, ``>`` and ``&`` escaped, control characters
    dropped, and outside ``<pre>`` an ``@`` before a word defused so nobody is mentioned."""
    cleaned = "".join(
        char for char in text if char in "\n\t" or unicodedata.category(char) != "Cc"
    )
    escaped = html.escape(cleaned, quote=False)
    if tag != "pre":
        escaped = _MENTION.sub("@" + _WORD_JOINER, escaped)
    return escaped


def units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP is two)."""
    return len(text.encode("utf-16-le")) // 2


def render(reply: Reply, *, limit: int = MESSAGE_LIMIT) -> Rendered:
    """Render a Reply; link buttons Telegram would refuse (local addresses) become text."""
    buttons = tuple(button for button in reply.buttons if button_allowed(button.url))
    # With a photo the title is its caption's first line; the messages carry the rest.
    title = None if reply.image is not None else reply.title
    atoms = _atoms(reply, title, [b for b in reply.buttons if b not in buttons])
    messages = tuple(_pack(atoms, limit))
    caption = ""
    if reply.image is not None:
        caption = _caption(reply.title, reply.image)
    return Rendered(messages=messages, photo=reply.image, caption=caption, buttons=buttons)


def button_allowed(url: str) -> bool:
    """Whether Telegram accepts ``url`` on an inline button (it refuses local hosts)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in {"http", "https", "tg"} or not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True
    return address.is_global


def _caption(title: str | None, image: Image) -> str:
    head = f"<b>{escape(title)}</b>\n" if title else ""
    description = image.description
    budget = CAPTION_LIMIT - units(head)
    while description and units(escape(description)) > budget:
        description = description[: max(len(description) - 64, 0)].rstrip() + "…"
        if len(description) <= 1:
            description = ""
    return (head + escape(description)).strip()


def _atoms(reply: Reply, title: str | None, text_buttons: list[Button]) -> list[tuple[Tag, str]]:
    """The reply as (tag, raw text) pieces, one line per piece, sections blank-line apart."""
    sections: list[list[tuple[Tag, str]]] = []
    if title:
        sections.append([("b", title), (None, "\n")])
    if reply.text:
        sections.append([(None, line + "\n") for line in reply.text.split("\n")])
    if reply.fields:
        lines: list[tuple[Tag, str]] = []
        for field in reply.fields:
            if field.inline and "\n" not in field.value:
                lines += [("b", field.name), (None, f": {field.value}\n")]
            else:
                lines += [("b", field.name), (None, "\n")]
                lines += [(None, line + "\n") for line in field.value.split("\n")]
        sections.append(lines)
    if reply.table is not None:
        sections.append([("pre", line + "\n") for line in table_lines(reply.table)])
    if text_buttons:
        sections.append([(None, f"{button.label}: {button.url}\n") for button in text_buttons])
    if reply.notes:
        sections.append([item for note in reply.notes for item in (("i", note), (None, "\n"))])
    atoms: list[tuple[Tag, str]] = []
    for index, section in enumerate(sections):
        if index:
            atoms.append((None, "\n"))
        atoms.extend(section)
    return atoms


def table_lines(table: Table) -> list[str]:
    """Columns padded to line up in Telegram's monospace ``<pre>`` block."""
    cells = [table.headers, *table.rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.headers))]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def _pack(atoms: list[tuple[Tag, str]], limit: int) -> list[str]:
    messages: list[str] = []
    current: list[tuple[Tag, str]] = []  # runs of one tag: (tag, escaped text)
    size = 0

    def flush() -> None:
        nonlocal current, size
        text = _join(current).strip()
        if text:
            messages.append(text)
        current, size = [], 0

    for tag, raw in atoms:
        for piece in _fit(tag, raw, limit):
            opening, closing = _TAGS[tag]
            escaped = escape(piece, tag=tag)
            same_run = bool(current) and current[-1][0] == tag
            cost = units(escaped) + (0 if same_run else units(opening + closing))
            if size + cost > limit and current:
                flush()
                same_run = False
                cost = units(escaped) + units(opening + closing)
            if same_run:
                current[-1] = (tag, current[-1][1] + escaped)
            else:
                current.append((tag, escaped))
            size += cost
    flush()
    return messages


def _join(runs: list[tuple[Tag, str]]) -> str:
    out = []
    for tag, text in runs:
        opening, closing = _TAGS[tag]
        if tag is not None and not text.strip():
            continue  # an empty <b></b> is an error to Telegram
        if tag is not None:
            # Keep the line break outside the tag so the next message starts clean.
            stripped = text.rstrip("\n")
            out.append(f"{opening}{stripped}{closing}{text[len(stripped) :]}")
        else:
            out.append(text)
    return "".join(out)


def _fit(tag: Tag, raw: str, limit: int) -> list[str]:
    """Split one atom whose escaped form exceeds a message into pieces that fit alone."""
    opening, closing = _TAGS[tag]
    budget = limit - units(opening + closing)
    if units(escape(raw, tag=tag)) <= budget:
        return [raw]
    pieces: list[str] = []
    rest = raw
    while rest:
        end = _longest_prefix(rest, tag, budget)
        space = rest.rfind(" ", 0, end)
        if end < len(rest) and space > end // 2:
            end = space + 1
        while 0 < end < len(rest) and _joins_previous(rest[end]):
            end -= 1  # never cut an emoji sequence or a letter from its accents
        end = max(end, 1)
        pieces.append(rest[:end])
        rest = rest[end:]
    return pieces


def _longest_prefix(text: str, tag: Tag, budget: int) -> int:
    """The longest prefix length whose escaped form fits ``budget`` (binary search)."""
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if units(escape(text[:middle], tag=tag)) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def _joins_previous(char: str) -> bool:
    return (
        char in "\u200d\ufe0e\ufe0f"
        or unicodedata.category(char) in {"Mn", "Me", "Mc"}
        or 0x1F3FB <= ord(char) <= 0x1F3FF  # skin-tone modifiers
    )
