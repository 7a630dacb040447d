"""The console adapter: command lines from stdin, plain-text replies on stdout.

It is a real third adapter (not a test double): it proves the core is platform-neutral, it
lets a person try affbot without any bot token, and tests drive it by piping lines in.
After each command (and at the start and the end) it runs ``deliver``, which prints the
messages the bot queued for the console (announcements, private messages, notices), so
they appear right after the reply that caused them.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
import threading
import unicodedata
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from commands.core.dispatcher import Dispatcher
from commands.core.invocation import Actor, ChatKind
from commands.core.reply import Image, Reply

log = logging.getLogger(__name__)

PLATFORM = "console"
ANNOUNCEMENTS = "announcements"  # the console's one chat for posts and announcements
QUIT_WORDS = frozenset({"/quit", "/exit"})


class ConsoleAdapter:
    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        user: str,
        manager: bool,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        image_dir: Path | None = None,
        deliver: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._dispatcher = dispatcher
        self._actor = Actor(PLATFORM, user, user, is_manager=manager, local=True)
        # Set after construction when the printer needs this adapter's renderer.
        self.deliver = deliver
        self._stdin = stdin or sys.stdin
        self._stdout = stdout or sys.stdout
        self._image_dir = image_dir
        self._interactive = self._stdin.isatty()

    async def run(self) -> None:
        """Answer lines until end of input or /quit."""
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def read() -> None:
            # A daemon thread: a blocked readline must never keep the process alive.
            for line in self._stdin:
                loop.call_soon_threadsafe(lines.put_nowait, line)
            loop.call_soon_threadsafe(lines.put_nowait, None)

        threading.Thread(target=read, name="console-stdin", daemon=True).start()
        if self._interactive:
            self._write(
                f"affbot console: you are {self._actor.display_name}"
                + (" (manager)" if self._actor.is_manager else "")
                + ". Type /help, or /quit to leave. Messages the bot sends (announcements, "
                "private messages, alerts) are printed here as '-- message ... --'."
            )
        await self._delivered()
        try:
            while True:
                self._prompt()
                line = await lines.get()
                if line is None:
                    return
                text = line.strip()
                if not text or text.startswith("#"):
                    continue
                if text.lower() in QUIT_WORDS:
                    return
                replies = await self._dispatcher.execute_line(text, self._actor, ChatKind.PRIVATE)
                for reply in replies:
                    self._write(self.render(reply))
                await self._delivered()
        finally:
            await self._delivered()

    async def _delivered(self) -> None:
        """Print what the bot queued for the console so far; a failure never ends the
        session (the messages stay queued for the next try)."""
        if self.deliver is None:
            return
        try:
            await self.deliver()
        except Exception:
            log.exception("console: could not print the queued messages")

    def render(self, reply: Reply) -> str:
        """Plain text; control characters (terminal escapes) in user text are dropped."""
        out: list[str] = []
        if reply.title:
            out.append(f"== {clean(reply.title)} ==")
        if reply.text:
            out.append(clean(reply.text))
        for field in reply.fields:
            out.append(f"{clean(field.name)}: {clean(field.value)}")
        if reply.table:
            out.extend(_table(reply.table.headers, reply.table.rows))
        if reply.image:
            where = self._save(reply.image)
            out.append(f"[image: {clean(reply.image.description)} — {where}]")
        for button in reply.buttons:
            out.append(f"[{clean(button.label)}] {clean(button.url)}")
        for note in reply.notes:
            out.append(f"({clean(note)})")
        if reply.private:
            out.append("(private: only you can see this)")
        return "\n".join(out)

    def _save(self, image: Image) -> str:
        folder = self._image_dir or Path(tempfile.gettempdir())
        suffix = Path(image.filename).suffix or ".png"
        with tempfile.NamedTemporaryFile(
            dir=folder, prefix="affbot-", suffix=suffix, delete=False
        ) as handle:
            handle.write(image.data)
        return handle.name

    def _prompt(self) -> None:
        if self._interactive:
            self._stdout.write("> ")
            self._stdout.flush()

    def _write(self, text: str) -> None:
        self._stdout.write(text + "\n\n" if self._interactive else text + "\n")
        self._stdout.flush()


def clean(text: str) -> str:
    """Drop control characters except line breaks and tabs."""
    return "".join(char for char in text if char in "\n\t" or unicodedata.category(char) != "Cc")


def _table(headers: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> list[str]:
    cells = [tuple(clean(c) for c in headers), *(tuple(clean(c) for c in row) for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines
