"""Storage-level errors the layers above translate into user-facing answers."""

from __future__ import annotations


class StorageError(Exception):
    """Base class for errors raised by repositories."""


class Conflict(StorageError):
    """A uniqueness rule refused the write; nothing was changed."""
