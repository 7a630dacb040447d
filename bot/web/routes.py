"""Where a referral code leads right now: destination, fallback, gone or unknown.

Deciding needs the link, its program's and affiliate's states and whether a hard cap is
full: one read transaction. A click must be cheap, so the decision is kept per code for
``link_cache_seconds`` (0 disables it); a paused program or a full cap therefore takes
effect within that many seconds on every tracking server sharing the database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from commands import caps
from storage import Database
from storage.links import LinkTarget

MAX_CACHED_CODES = 50_000


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


class RouteCache:
    def __init__(self, database: Database, *, ttl_seconds: float, zone: ZoneInfo) -> None:
        self._database = database
        self._ttl = ttl_seconds
        self._zone = zone
        self._cache: dict[str, tuple[float, Route]] = {}

    def cached(self, code: str) -> Route | None:
        """The cached route for ``code`` while it is fresh (no await on the hot path)."""
        entry = self._cache.get(code)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        return None

    async def route(self, code: str, now: datetime) -> Route:
        """The route for ``code``, from the cache while it is fresh."""
        if self._ttl > 0 and (hit := self.cached(code)) is not None:
            return hit
        found = await self._decide(code, now)
        if self._ttl > 0:
            if len(self._cache) >= MAX_CACHED_CODES:
                self._cache.clear()
            self._cache[code] = (time.monotonic() + self._ttl, found)
        return found

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
        return Route(RouteKind.DESTINATION, target)


def _away(target: LinkTarget, reason: str) -> Route:
    kind = RouteKind.FALLBACK if target.fallback_url else RouteKind.GONE
    return Route(kind, target, reason)
