"""Where a referral code leads right now: destination, fallback, landing, gone or unknown.

Deciding needs the link, its program's and affiliate's states and whether a hard cap is
full: one read transaction. A click must be cheap, so the decision is kept per code for
``link_cache_seconds`` (0 disables it), and never served older than that: a paused program
or a full cap takes effect within that many seconds on every tracking server sharing the
database, and at once in the process whose command made the change (``forget``, wired to
``Services.link_changes``). A code clicked in the second half of its decision's life is
re-read in the background, so a busy link never waits for the database; concurrent misses
for one code share one read. Only when that read fails is the last decision served a
while longer (``MAX_STALE_LIFETIMES``), so a database hiccup does not break links.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from commands.caps import rules as caps
from storage import Database
from storage.links import LinkTarget

log = logging.getLogger(__name__)

MAX_CACHED_CODES = 50_000
# A decision older than this share of its lifetime is re-read in the background on a click.
REFRESH_AFTER = 0.5
# When reading a code fails, its last decision is still served up to this many lifetimes
# old (a database that stays unreachable then shows as errors).
MAX_STALE_LIFETIMES = 12
PLACEHOLDERS = ("{click_id}", "{code}", "{affiliate}", "{campaign}")


class RouteKind(StrEnum):
    DESTINATION = "destination"  # counted click to the program's destination
    FALLBACK = "fallback"  # paused, suspended or capped: to the fallback URL, uncounted
    LANDING = "landing"  # paused without a fallback URL: to the program's page, uncounted
    GONE = "gone"  # suspended or capped without a fallback URL: 410
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
        # code -> (monotonic time its read started, decision)
        self._cache: dict[str, tuple[float, Route]] = {}
        self._reads: dict[str, asyncio.Task[Route]] = {}
        self._generation = 0  # bumped by forget(): reads started before it are not kept

    def forget(self) -> None:
        """Drop every decision: a command in this process just changed where links lead."""
        self._cache.clear()
        self._reads.clear()
        self._generation += 1

    def cached(self, code: str, now: datetime) -> Route | None:
        """The cached route for ``code`` while it is fresh (no await on the hot path).

        In the second half of its lifetime a background read replaces it.
        """
        entry = self._cache.get(code)
        if entry is None:
            return None
        read_at, route = entry
        age = time.monotonic() - read_at
        if age >= self._ttl:
            return None
        if age >= self._ttl * REFRESH_AFTER and code not in self._reads:
            self._read(code, now).add_done_callback(_log_failed_refresh)
        return route

    async def route(self, code: str, now: datetime) -> Route:
        """The route for ``code``, from the cache while it is fresh."""
        if self._ttl <= 0:
            return await self._decide(code, now)
        entry = self._cache.get(code)
        age = None if entry is None else time.monotonic() - entry[0]
        if entry is not None and age is not None and age < self._ttl:
            return entry[1]
        try:
            return await asyncio.shield(self._reads.get(code) or self._read(code, now))
        except Exception:
            if entry is None or age is None or age > self._ttl * MAX_STALE_LIFETIMES:
                raise
            log.warning("reading link %s failed; using its last decision", code, exc_info=True)
            return entry[1]

    def _read(self, code: str, now: datetime) -> asyncio.Task[Route]:
        """One read of ``code`` that every waiter shares; it fills the cache."""
        started = time.monotonic()
        generation = self._generation
        task = asyncio.get_running_loop().create_task(self._decide(code, now))
        self._reads[code] = task

        def done(finished: asyncio.Task[Route]) -> None:
            if self._reads.get(code) is finished:
                del self._reads[code]
            if finished.cancelled() or finished.exception() is not None:
                return
            if generation != self._generation:
                return  # read before a change this process made: the next click re-reads
            if len(self._cache) >= MAX_CACHED_CODES:
                self._cache.clear()
            self._cache[code] = (started, finished.result())

        task.add_done_callback(done)
        return task

    async def _decide(self, code: str, now: datetime) -> Route:
        async with self._database.read() as store:
            target = await store.links.target(code)
            if target is None:
                return Route(RouteKind.UNKNOWN)
            if target.program_status != "active":
                if not target.fallback_url:
                    return Route(RouteKind.LANDING, target, "program paused")
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


def plain_destination(target: LinkTarget) -> str:
    """The program's configured destination without any per-click parts: query
    parameters and a path that carry a placeholder (``{click_id}``, …) are left out."""
    parts = urlsplit(target.destination_url)
    query = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if not any(placeholder in name + value for placeholder in PLACEHOLDERS)
    ]
    path = "/" if any(placeholder in parts.path for placeholder in PLACEHOLDERS) else parts.path
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), ""))


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
