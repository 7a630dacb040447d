"""Exact bytes on a real socket: requests no HTTP client library would let us send.

aiohttp's client (like every client) encodes headers and paths itself, so a ``Referer``
with bytes that are not UTF-8, or ``/r/%00`` on the wire as typed, needs a socket of its
own. The answer is read until the server closes (every request says
``Connection: close``), under a time limit, so a hang fails the test instead of stalling it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class RawAnswer:
    status: int  # 0 when the server closed without a status line
    head: bytes
    body: bytes
    seconds: float


def request_bytes(
    method: str,
    target: bytes,
    headers: dict[bytes, bytes] | None = None,
    body: bytes = b"",
) -> bytes:
    """One HTTP/1.1 request as bytes; ``Host``, ``Content-Length`` and
    ``Connection: close`` are added unless given."""
    lines = [method.encode() + b" " + target + b" HTTP/1.1"]
    given = {name.lower() for name in headers or {}}
    extra = dict(headers or {})
    if b"host" not in given:
        extra[b"Host"] = b"127.0.0.1"
    if body and b"content-length" not in given:
        extra[b"Content-Length"] = str(len(body)).encode()
    if b"connection" not in given:
        extra[b"Connection"] = b"close"
    lines += [name + b": " + value for name, value in extra.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def send_raw(client: object, data: bytes, *, limit_seconds: float = 5.0) -> RawAnswer:
    """Send ``data`` to the client's server and read the whole answer."""
    host, port = _address(client)
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(limit_seconds):
            answer = await reader.read(-1)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()  # the server may reset a connection it refused
    seconds = time.monotonic() - started
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    status = int(status_line[1]) if len(status_line) >= 2 and status_line[1].isdigit() else 0
    return RawAnswer(status, head, body, seconds)


async def get_raw(
    client: object, target: bytes, headers: dict[bytes, bytes] | None = None
) -> RawAnswer:
    return await send_raw(client, request_bytes("GET", target, headers))


def _address(client: object) -> tuple[str, int]:
    server = getattr(client, "server", None)
    host = getattr(server, "host", None) or "127.0.0.1"
    port = getattr(server, "port", None)
    if not isinstance(port, int):
        raise TypeError("send_raw needs a started TestClient")
    return str(host), port
