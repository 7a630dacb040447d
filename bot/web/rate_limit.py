"""Per-address rate limits on ``/r/`` and ``/postback``: a token bucket per client.

A bucket refills at ``per_minute / 60`` tokens a second and holds up to ``burst``; a
request takes one token or is answered 429 with ``Retry-After``. The defaults are far
above what people produce: a whole office or school behind one NAT address clicking
links, or a shop's server replaying a day of postbacks, stays under them, while a
script hammering the server from one address is slowed down. ``per_minute = 0`` turns a
limit off. Buckets live in memory per process (each tracking server limits on its own)
and idle full buckets are dropped, so memory stays bounded by the active addresses. The
bucket is ``commands.core.token_bucket``, the same one command cooldowns use.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from bot.web.pages import json_error, page
from bot.web.state import TRACKING
from commands.core.token_bucket import TokenBuckets

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RateLimiter(TokenBuckets):
    """Token buckets keyed by client address, on the monotonic clock."""

    clock: Callable[[], float] = time.monotonic

    def check(self, key: str) -> float:
        """Take a token for ``key``: 0.0 if allowed, else seconds until one is free."""
        return self.take(key, self.clock())


@dataclass(slots=True)
class Limits:
    redirects: RateLimiter
    postbacks: RateLimiter


LIMITS = web.AppKey("rate_limits", Limits)


def refused(request: web.Request, limiter: RateLimiter, *, postback: bool) -> web.Response | None:
    """The 429 answer when the client's bucket is empty, else ``None`` (go ahead).

    Called first thing by the ``/r/`` and ``/postback`` handlers rather than as a
    middleware: an aiohttp middleware wraps every request in two more calls, a cost every
    redirect would pay for a check only these routes need.
    """
    if limiter.per_minute <= 0:
        return None
    tracking = request.app[TRACKING]
    address = tracking.client_address(request)
    wait = limiter.check(address)
    if wait <= 0:
        return None
    tracking.metrics.rate_limited += 1
    log.debug("rate limited %s on %s for %.1f s", address, request.path, wait)
    retry = str(max(1, math.ceil(wait)))
    if postback:
        response = json_error(429, "rate", f"too many requests; retry after {retry} s")
    else:
        response = page(429, "Too many requests", "Please wait a moment and try again.")
    response.headers["Retry-After"] = retry
    return response
