"""The tracking server's listening socket: slow clients time out, no address takes it all.

aiohttp keeps a connection that never completes its request head open for its
``keepalive_timeout``, 3630 s by default: 300 connections sending a header byte now and
then held 300 file descriptors for as long as they liked, and with the process's open-file
limit reached nobody else got an answer. Two guards, both on every connection:

- ``web.idle_timeout_seconds`` becomes aiohttp's ``keepalive_timeout``, which closes a
  connection that has not delivered a complete request head that long after it opened
  or after its last response (trickling bytes does not extend it); a request being
  answered is never cut off by it.
- ``web.max_connections_per_address`` caps the connections open at once from one
  address; one more is answered ``429`` and closed before aiohttp sees it.

Behind a reverse proxy every connection comes from the proxy's address: raise the cap
above the proxy's upstream connections (or set 0) and let the proxy limit per client, as
docs/RELIABILITY.md describes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable

from aiohttp import web

from bot.config import WebConfig

log = logging.getLogger(__name__)

REFUSED = (
    b"HTTP/1.1 429 Too Many Requests\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Retry-After: 5\r\n"
    b"Connection: close\r\n"
    b"Content-Length: 58\r\n"
    b"\r\n"
    b"Too many open connections from your address; retry later.\n"
)


class AddressLimit:
    """Open connections per client address; ``limit`` 0 admits everyone."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: Counter[str] = Counter()
        self.refused = 0

    def admit(self, address: str) -> bool:
        if self.limit and self.open[address] >= self.limit:
            self.refused += 1
            if self.refused == 1 or self.refused % 1000 == 0:
                log.warning(
                    "refused a connection from %s: %s already open (%s refused so far)",
                    address,
                    self.limit,
                    self.refused,
                )
            return False
        self.open[address] += 1
        return True

    def release(self, address: str) -> None:
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]


class _Admitted(asyncio.Protocol):
    """aiohttp's protocol for one connection, reached only once its address is admitted.

    Passes on every ``asyncio.Protocol`` call; aiohttp's handler never asks the transport
    for its protocol, so standing in between is invisible to it.
    """

    def __init__(self, inner: asyncio.Protocol, limit: AddressLimit) -> None:
        self._inner = inner
        self._limit = limit
        self._address: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        if not self._limit.admit(address):
            if isinstance(transport, asyncio.WriteTransport):
                transport.write(REFUSED)
            transport.close()
            return
        self._address = address
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._address is None:
            return
        self._limit.release(self._address)
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._address is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self._address is None:
            return None
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        if self._address is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._address is not None:
            self._inner.resume_writing()


class TrackingSite(web.TCPSite):
    """``web.TCPSite`` whose connections pass the per-address limit first."""

    def __init__(self, runner: web.AppRunner, config: WebConfig) -> None:
        super().__init__(runner, config.host, config.port)
        self.limit = AddressLimit(config.max_connections_per_address)

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site; TCPSite's own start is replaced
        server = self._runner.server
        if server is None:  # pragma: no cover - the runner is set up before its sites
            raise RuntimeError("the tracking server's runner is not set up")
        factory: Callable[[], asyncio.Protocol] = lambda: _Admitted(server(), self.limit)  # noqa: E731
        self._server = await asyncio.get_running_loop().create_server(
            factory, self._host, self._port, backlog=self._backlog
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port


def tracking_runner(app: web.Application, config: WebConfig) -> web.AppRunner:
    """The runner ``affbot run`` serves the tracking app with (access log off: redirects
    are counted in ``/metrics``, and one log line each would cost a tenth of them)."""
    return web.AppRunner(app, access_log=None, keepalive_timeout=config.idle_timeout_seconds)
