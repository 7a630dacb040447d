"""One batch of clicks, written: the pipeline both click writer modes run.

The clicks go in one transaction; fraud counters and first-click badges follow, each in a
transaction of its own, so that their failure is logged and never takes committed clicks
back. ``BatchWriter`` runs in the server's process (``click_writer = "inline"``) or in
the click writer process (``bot.web.click_writer``); the rest of this module is the wire
format between the two: plain tuples in ``marshal`` frames, acknowledged by lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import marshal
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.web.visitors import Visit, hash_ip, hash_network
from commands.badges import first_clicks
from commands.fraud_clicks import Baselines, screen_clicks
from commands.fraud_rules import FraudRules
from storage import Database
from storage.clicks import NewClick

log = logging.getLogger(__name__)

MAX_BADGED_LINKS = 100_000
FRAME_HEADER = 4  # bytes of big-endian length before each frame's marshal payload
MAX_FRAME_BYTES = 2**31  # a batch of 100,000 clicks is ~20 MB; anything near this is a bug

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

ClickRow = tuple[str, int, int, str | None, str | None, str, str | None, str | None]
"""A click on the wire: click id, link id, the time as integer microseconds since the
epoch (exact, unlike a float, and cheaper to build than an ISO string), IP hash, raw
address, user agent family, referer host, network hash. A ``Visit`` carries its address
and no hashes; a ``NewClick`` its hashes and no address."""


class BatchWriter:
    """Writes a batch, then screens it and settles first-click badges.

    Keeps what later batches can reuse: each link's fraud baseline, and the links whose
    owners already hold the first-click badge (badges are never taken back, so once a
    batch has settled a link, later batches skip that transaction).
    """

    def __init__(
        self,
        database: Database,
        *,
        fraud: FraudRules | None = None,
        writer: contextlib.AbstractAsyncContextManager[object] | None = None,
        salt: str = "",
    ) -> None:
        self._database = database
        self.salt = salt  # hashes the addresses of visits (see ``Visit``)
        self._fraud = fraud
        self._writer = writer or contextlib.nullcontext()
        self._baselines = Baselines()
        self._badged_links: set[int] = set()

    async def write(self, items: Sequence[NewClick | Visit]) -> None:
        """Hash the batch's visits, commit its clicks, then screen them and award
        first-click badges.

        Raises:
            Exception: whatever kept the clicks from being committed (nothing was); a
                failure after the commit is logged, never raised.
        """
        batch = _hashed(items, self.salt)
        async with self._writer, self._database.transaction() as store:
            await store.clicks.add_many(batch)
        await self._screen(batch)
        await self._first_clicks(batch)

    async def _screen(self, batch: Sequence[NewClick]) -> None:
        if self._fraud is None or not self._fraud.enabled:
            return
        try:
            async with self._writer, self._database.transaction() as store:
                await screen_clicks(
                    store,
                    batch,
                    rules=self._fraud,
                    now=batch[-1].occurred_at,
                    baselines=self._baselines,
                )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("fraud screening of %s clicks failed", len(batch))

    async def _first_clicks(self, batch: Sequence[NewClick]) -> None:
        """One set-based statement for the batch's links not settled by an earlier one."""
        link_ids = {click.link_id for click in batch} - self._badged_links
        if not link_ids:
            return
        try:
            async with self._writer, self._database.transaction() as store:
                await first_clicks(store, link_ids, now=batch[-1].occurred_at)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("first-click badges for %s clicks failed", len(batch))
            return
        if len(self._badged_links) > MAX_BADGED_LINKS:
            self._badged_links.clear()
        self._badged_links.update(link_ids)


def _hashed(items: Sequence[NewClick | Visit], salt: str) -> list[NewClick]:
    """The batch as stored clicks: each visit's address hashed, once per distinct
    address in the batch (a flood from one address, when load is highest, hashes once)."""
    hashes: dict[str, tuple[str, str]] = {}
    batch: list[NewClick] = []
    for item in items:
        if not isinstance(item, Visit):
            batch.append(item)
            continue
        known = hashes.get(item.address)
        if known is None:
            if not salt:
                raise RuntimeError("no IP hash salt: refusing to hash visitors without one")
            known = hashes[item.address] = (
                hash_ip(salt, item.address),
                hash_network(salt, item.address),
            )
        batch.append(
            NewClick(
                click_id=item.click_id,
                link_id=item.link_id,
                occurred_at=item.occurred_at,
                ip_hash=known[0],
                user_agent_family=item.user_agent_family,
                referer_host=item.referer_host,
                net_hash=known[1],
            )
        )
    return batch


def click_row(item: NewClick | Visit) -> ClickRow:
    """A click or visit as plain values ``marshal`` can carry (see ``ClickRow``)."""
    micros = (item.occurred_at - _EPOCH) // _MICROSECOND
    if isinstance(item, Visit):
        return (
            item.click_id,
            item.link_id,
            micros,
            None,
            item.address,
            item.user_agent_family,
            item.referer_host,
            None,
        )
    return (
        item.click_id,
        item.link_id,
        micros,
        item.ip_hash,
        None,
        item.user_agent_family,
        item.referer_host,
        item.net_hash,
    )


def click_from_row(row: Sequence[Any]) -> NewClick | Visit:
    """The click or visit ``click_row`` made, its time in UTC to the microsecond."""
    click_id, link_id, micros, ip_hash, address, agent, referer, net_hash = row
    occurred_at = _EPOCH + timedelta(microseconds=micros)
    if address is not None:
        return Visit(click_id, link_id, occurred_at, address, agent, referer)
    return NewClick(
        click_id=click_id,
        link_id=link_id,
        occurred_at=occurred_at,
        ip_hash=ip_hash,
        user_agent_family=agent,
        referer_host=referer,
        net_hash=net_hash,
    )


def encode_frame(payload: Any) -> bytes:
    """Length-prefixed ``marshal`` bytes: plain values only, between our own processes."""
    body = marshal.dumps(payload)
    return len(body).to_bytes(FRAME_HEADER, "big") + body


async def read_frame(reader: asyncio.StreamReader) -> Any | None:
    """The next frame's payload, or ``None`` at a clean end of input (between frames).

    Raises:
        asyncio.IncompleteReadError: the input ended inside a frame.
        ValueError: a frame that is not what ``encode_frame`` writes.
    """
    header = await reader.read(FRAME_HEADER)
    if not header:
        return None
    if len(header) < FRAME_HEADER:
        header += await reader.readexactly(FRAME_HEADER - len(header))
    size = int.from_bytes(header, "big")
    if size >= MAX_FRAME_BYTES:
        raise ValueError(f"click writer frame of {size} bytes")
    body = await reader.readexactly(size)
    # Only the server that started this process writes here (our own stdin pipe).
    return marshal.loads(body)  # noqa: S302
