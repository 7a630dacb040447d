"""Telling this process's link caches that where links lead has just changed.

Tracking servers keep each code's route for ``link_cache_seconds`` (``bot.web.routes``). A
manager who pauses a program or suspends an affiliate expects the very next click to
follow; a handler that changed a route calls ``changed()`` after its transaction commits,
and every cache in this process that subscribed forgets its routes. Other processes
sharing the database still follow within their cache lifetime.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class LinkChanges:
    """Callbacks to run once a committed change moved where some links lead."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Run ``listener`` on every change; returns the call that unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def changed(self) -> None:
        """Call after the transaction that paused, resumed, suspended, capped or re-pointed
        links has committed (before, a cache could re-read the old state)."""
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                log.exception("a link cache could not forget its routes")
