"""Domain errors that carry the sentence the user should read.

The dispatcher is the one place that turns them into replies; anything else that escapes a
handler is a bug, logged with an error id, and the user gets an apology with that id.
"""

from __future__ import annotations


class CommandError(Exception):
    """Base class: ``str(error)`` is shown to the user as-is."""


class UsageError(CommandError):
    """The arguments were wrong; the reply adds the usage line."""


class PermissionDenied(CommandError):
    """The caller may not do this."""


class NotFound(CommandError):
    """What the caller named does not exist."""


class Refused(CommandError):
    """A valid request the current state does not allow (suspended, paused, …)."""
