"""Where a referral code leads right now: destination, fallback, gone or unknown.

Deciding needs the link, its program's and affiliate's states and whether a hard cap is
full: one read transaction. A click must be cheap, so the decision is kept per code for
``link_cache_seconds`` (0 disables it); a paused program or a full cap therefore takes
effect within that many seconds (plus one read) on every tracking server sharing the
database. When a decision expires, redirects keep using it while one background read
replaces it, and concurrent misses for one code share one read: on a busy link, expiry
used to send every in-flight request to the database at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from urllib.parse import quote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from commands.caps import rules as caps
from storage import Database
from storage.links import LinkTarget

log = logging.getLogger(__name__)

MAX_CACHED_CODES = 50_000
# An expired decision is served while it is refreshed, but never once it is this many
# times its lifetime old (a database that stays unreachable then shows as errors).
MAX_STALE_LIFETIMES = 12
PLACEHOLDERS = ("{click_id}", "{code}", "{affiliate}", "{campaign}")


class RouteKind(StrEnum):
    DESTINATION = "destination"  # counted click to the program's destination
    FALLBACK = "fallback"  # paused, suspended or capped: to the fallback URL, uncounted
    GONE = "gone"  # paused, suspended or capped without a fallback URL: 410
    UNKNOWN = "unknown"  # no such code: 404


@dataclass(frozen=True, slots=True)
class Route:
    kind: RouteKind
    target: LinkTarget | None = None
    reason: str = ""
    # For a destination without placeholders: the Location before and after the click
    # id, worked out once per decision instead of once per click.
    around_click_id: tuple[str, str] | None = None


class RouteCache:
    def __init__(self, database: Database, *, ttl_seconds: float, zone: ZoneInfo) -> None:
        self._database = database
        self._ttl = ttl_seconds
        self._zone = zone
        self._cache: dict[str, tuple[float, Route]] = {}
        self._reads: dict[str, asyncio.Task[Route]] = {}

    def cached(self, code: str, now: datetime) -> Route | None:
        """The cached route for ``code`` (no await on the hot path).

        An expired one is still returned, within ``MAX_STALE_LIFETIMES``, while a
        background read replaces it.
        """
        entry = self._cache.get(code)
        if entry is None:
            return None
        expires, route = entry
        left = expires - time.monotonic()
        if left > 0:
            return route
        if -left > self._ttl * MAX_STALE_LIFETIMES:
            return None
        if code not in self._reads:
            self._read(code, now).add_done_callback(_log_failed_refresh)
        return route

    async def route(self, code: str, now: datetime) -> Route:
        """The route for ``code``, from the cache while it is fresh."""
        if self._ttl <= 0:
            return await self._decide(code, now)
        entry = self._cache.get(code)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        return await asyncio.shield(self._reads.get(code) or self._read(code, now))

    def _read(self, code: str, now: datetime) -> asyncio.Task[Route]:
        """One read of ``code`` that every waiter shares; it fills the cache."""
        task = asyncio.get_running_loop().create_task(self._decide(code, now))
        self._reads[code] = task

        def done(finished: asyncio.Task[Route]) -> None:
            self._reads.pop(code, None)
            if finished.cancelled() or finished.exception() is not None:
                return
            if len(self._cache) >= MAX_CACHED_CODES:
                self._cache.clear()
            self._cache[code] = (time.monotonic() + self._ttl, finished.result())

        task.add_done_callback(done)
        return task

    async def _decide(self, code: str, now: datetime) -> Route:
        async with self._database.read() as store:
            target = await store.links.target(code)
            if target is None:
                return Route(RouteKind.UNKNOWN)
            if target.program_status != "active":
                return _away(target, "program paused")
            if target.affiliate_status != "active":
                return _away(target, "affiliate suspended")
            full = await caps.reached_hard_cap(
                store, target.link.program_id, target.link.affiliate_id, now, self._zone
            )
        if full is not None:
            return _away(target, f"cap reached ({full.action})")
        return Route(RouteKind.DESTINATION, target, around_click_id=around_click_id(target))


def around_click_id(target: LinkTarget) -> tuple[str, str] | None:
    """The Location before and after the click id when the destination has no
    placeholders: ``click_id`` and ``ref`` are appended to the query it already has."""
    template = target.destination_url
    if any(placeholder in template for placeholder in PLACEHOLDERS):
        return None
    base, separator, fragment = split_fragment(template)
    code = target.link.code
    ref = code if code.isalnum() else quote(code, safe="")  # codes are alphanumeric
    return f"{base}{separator}click_id=", f"&ref={ref}{fragment}"


@lru_cache(maxsize=4096)
def split_fragment(url: str) -> tuple[str, str, str]:
    """(URL before any fragment, ``?`` or ``&`` to add parameters with, ``#fragment``)."""
    parts = urlsplit(url)
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    base = urlunsplit(parts._replace(fragment=""))
    if not parts.query:
        return base.rstrip("?"), "?", fragment
    return base, "&", fragment


def _log_failed_refresh(task: asyncio.Task[Route]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning(
            "refreshing a cached link failed; still using the last decision",
            exc_info=task.exception(),
        )


def _away(target: LinkTarget, reason: str) -> Route:
    kind = RouteKind.FALLBACK if target.fallback_url else RouteKind.GONE
    return Route(kind, target, reason)
