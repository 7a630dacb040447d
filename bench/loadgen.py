"""A small closed-loop HTTP/1.1 load generator on raw asyncio protocols.

Each connection sends one request, waits for the whole response, records the latency and
sends the next, until the deadline. It is far cheaper per request than an HTTP client
library, so on a small machine the servers, not the generator, set the pace; both servers
are driven by exactly this code.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial


@dataclass
class LoadResult:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def merge(self, other: LoadResult) -> None:
        self.seconds += other.seconds
        self.latencies += other.latencies
        self.statuses.update(other.statuses)


class _Connection(asyncio.Protocol):
    def __init__(
        self, requests: Sequence[bytes], first: int, deadline: float, result: LoadResult
    ) -> None:
        self._requests = requests
        self._next = first % len(requests)
        self._deadline = deadline
        self._result = result
        self._buffer = bytearray()
        self._started = 0.0
        self._transport: asyncio.Transport | None = None
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._send()

    def _send(self) -> None:
        assert self._transport is not None
        if time.perf_counter() >= self._deadline:
            self._transport.close()
            return
        self._buffer.clear()
        self._started = time.perf_counter()
        self._transport.write(self._requests[self._next])
        self._next = (self._next + 1) % len(self._requests)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end]).lower()
        length = 0
        marker = head.find(b"\r\ncontent-length:")
        if marker >= 0:
            line_end = head.find(b"\r\n", marker + 2)
            length = int(head[marker + 17 : line_end if line_end >= 0 else None])
        if len(self._buffer) < end + 4 + length:
            return
        self._result.latencies.append(time.perf_counter() - self._started)
        self._result.statuses[int(head[9:12])] += 1
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.finished.done():
            self.finished.set_result(None)


async def drive(
    port: int,
    path: str,
    *,
    seconds: float,
    connections: int,
    forwarded_for: Sequence[str] = (),
) -> LoadResult:
    """Keep ``connections`` keep-alive connections busy with ``GET path`` for ``seconds``.

    With ``forwarded_for``, requests cycle through those addresses in an
    ``X-Forwarded-For`` header (each connection from its own starting point), so a server
    that trusts the header sees that many visitors; the requests are built beforehand,
    so the generator's cost per request stays the same.
    """
    head = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36\r\n"
        "Accept: */*\r\n"
    )
    requests = [
        f"{head}X-Forwarded-For: {address}\r\n\r\n".encode() for address in forwarded_for
    ] or [f"{head}\r\n".encode()]
    result = LoadResult()
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    deadline = started + seconds
    protocols = []
    stride = max(1, len(requests) // connections)
    for number in range(connections):
        _, protocol = await loop.create_connection(
            partial(_Connection, requests, number * stride, deadline, result), "127.0.0.1", port
        )
        protocols.append(protocol)
    await asyncio.gather(*(protocol.finished for protocol in protocols))
    result.seconds = time.perf_counter() - started
    return result
