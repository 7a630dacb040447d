"""The neutral reply: typed parts every adapter renders in its own idiom.

No Markdown or HTML is built here or in handlers. Every string in a ``Reply`` is plain text
that may contain anything a user typed; each adapter escapes it once, in its renderer.
A ``Reply`` also round-trips through JSON so the outbox can store what to send.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Visibility(StrEnum):
    """``private`` replies carry one person's numbers and are shown to that person only."""

    PUBLIC = "public"
    PRIVATE = "private"


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    value: str
    inline: bool = True


@dataclass(frozen=True, slots=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.headers):
                raise ValueError("every table row needs one cell per header")


@dataclass(frozen=True, slots=True)
class Image:
    data: bytes
    filename: str
    description: str


@dataclass(frozen=True, slots=True)
class Button:
    """A link button; ``url`` is always one the bot built, never user text."""

    label: str
    url: str


@dataclass(frozen=True, slots=True)
class Reply:
    text: str = ""
    title: str | None = None
    fields: tuple[Field, ...] = ()
    table: Table | None = None
    image: Image | None = None
    buttons: tuple[Button, ...] = ()
    visibility: Visibility = Visibility.PUBLIC
    notes: tuple[str, ...] = field(default=())
    # A platform role to ping, asked for explicitly (``/announce --ping``): a Discord role
    # id. Only the Discord renderer uses it, allowing exactly that mention; every other
    # renderer ignores it, and without it a message mentions nobody.
    mention_role: str | None = None

    @property
    def private(self) -> bool:
        return self.visibility is Visibility.PRIVATE

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (images as base64) for the outbox."""
        return {
            "text": self.text,
            "title": self.title,
            "fields": [[f.name, f.value, f.inline] for f in self.fields],
            "table": (
                {"headers": list(self.table.headers), "rows": [list(r) for r in self.table.rows]}
                if self.table
                else None
            ),
            "image": (
                {
                    "data": base64.b64encode(self.image.data).decode("ascii"),
                    "filename": self.image.filename,
                    "description": self.image.description,
                }
                if self.image
                else None
            ),
            "buttons": [[b.label, b.url] for b in self.buttons],
            "visibility": self.visibility.value,
            "notes": list(self.notes),
            "mention_role": self.mention_role,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        table = data.get("table")
        image = data.get("image")
        return cls(
            text=data.get("text", ""),
            title=data.get("title"),
            fields=tuple(Field(n, v, bool(i)) for n, v, i in data.get("fields", [])),
            table=(
                Table(tuple(table["headers"]), tuple(tuple(r) for r in table["rows"]))
                if table
                else None
            ),
            image=(
                Image(base64.b64decode(image["data"]), image["filename"], image["description"])
                if image
                else None
            ),
            buttons=tuple(Button(label, url) for label, url in data.get("buttons", [])),
            visibility=Visibility(data.get("visibility", "public")),
            notes=tuple(data.get("notes", [])),
            mention_role=data.get("mention_role"),
        )
