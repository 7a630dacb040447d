"""The console's outbox sender: unprompted messages printed where the operator sees them.

The console has one person at the keyboard, so every outbox message for the ``console``
platform is printed, headed by whom it was for; that is how feedback, scheduled posts and
announcements can be tried without any bot token.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from bot.adapters.console import PLATFORM, clean
from bot.adapters.delivery import TargetKind
from commands.core.reply import Reply


class ConsoleSender:
    """Prints outbox messages with ``render`` (the console adapter's renderer)."""

    platform = PLATFORM

    def __init__(self, render: Callable[[Reply], str], stdout: TextIO | None = None) -> None:
        self._render = render
        self._stdout = stdout or sys.stdout

    async def send(
        self, target_kind: TargetKind, target_id: str, reply: Reply, *, dedupe_key: str
    ) -> None:
        """Print the message; the console cannot fail to deliver, so nothing is raised."""
        where = "to" if target_kind == "user" else "in"
        header = f"-- message {where} {clean(target_id)} --"
        self._stdout.write(f"{header}\n{self._render(reply)}\n\n")
        self._stdout.flush()
