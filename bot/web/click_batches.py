"""One batch of clicks, written: the pipeline both click writer modes run.

The clicks, their fraud counters and first-click badges go in one transaction; when
screening or badges fail, the batch is written again without them, so that their
failure is logged and never takes the clicks with it. ``BatchWriter`` runs in the
server's process (``click_writer = "inline"``) or in the click writer process
(``bot.web.click_writer``); the rest of this module is the wire format between the two:
plain tuples in ``marshal`` frames, acknowledged by lines.

The click buffer holds clicks in that wire format from the moment the redirect makes
them, so a flush hands a batch over without touching each click again: converting 2000
clicks at flush time stalled the server's event loop for 1-2 ms per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import marshal
from collections import Counter
from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from bot.web.click_quarantine import Quarantine, row_fault
from bot.web.visitors import hash_ip, hash_network
from commands.fraud.clicks import ScreeningMemory, screen_clicks
from commands.fraud.rules import FraudRules
from commands.rewards.badges import first_clicks
from storage import Database, Store
from storage.clicks import NewClick, micros_of

log = logging.getLogger(__name__)
_T = TypeVar("_T")

MAX_BADGED_LINKS = 100_000
FRAME_HEADER = 4  # bytes of big-endian length before each frame's marshal payload
MAX_FRAME_BYTES = 2**31  # a batch of 100,000 clicks is ~20 MB; anything near this is a bug

ClickRow = tuple[str, int, int, str | None, str | None, str, str | None, str | None]
"""A click in the buffer and on the wire: click id, link id, the time as integer
microseconds since the epoch (exact, unlike a float, and cheaper to build than an ISO
string), IP hash, raw address, user agent family, referer host, network hash. A visit
(``visit_row``) carries its address and no hashes; a stored click (``click_row``) its
hashes and no address. Plain tuples: ``marshal`` carries nothing else."""


def visit_row(
    click_id: str,
    link_id: int,
    at: datetime,
    address: str,
    user_agent_family: str,
    referer_host: str | None,
) -> ClickRow:
    """A counted click as the redirect saw it, before its address is hashed.

    Hashing the address and its network costs a redirect about a tenth of its
    throughput, so the redirect leaves it to the click writer, which hashes whole batches
    off the server's event loop (in its own process by default). The raw address lives
    only in memory and on the pipe to that writer.
    """
    return (
        click_id,
        link_id,
        micros_of(at),
        None,
        address,
        user_agent_family,
        referer_host,
        None,
    )


def click_row(click: NewClick) -> ClickRow:
    """An already hashed click in the buffer's format (imports and tests)."""
    return (
        click.click_id,
        click.link_id,
        click.micros,
        click.ip_hash,
        None,
        click.user_agent_family,
        click.referer_host,
        click.net_hash,
    )


class BatchWriter:
    """Writes a batch, then screens it and settles first-click badges.

    Keeps what later batches can reuse: what fraud screening remembers (baselines, the
    counters already pruned), and the links whose owners already hold the first-click
    badge (badges are never taken back, so once a batch has settled a link, later
    batches skip that transaction).
    """

    def __init__(
        self,
        database: Database,
        *,
        fraud: FraudRules | None = None,
        writer: contextlib.AbstractAsyncContextManager[object] | None = None,
        salt: str = "",
        quarantine: Quarantine | None = None,
    ) -> None:
        self._database = database
        self.salt = salt  # hashes the addresses of visits (see ``visit_row``)
        self._fraud = fraud
        self._writer = writer or contextlib.nullcontext()
        self._screening = ScreeningMemory()
        self._badged_links: set[int] = set()
        self._quarantine = quarantine or Quarantine()

    async def write(self, rows: Sequence[Sequence[Any]]) -> Counter[str]:
        """Write the batch; rows the database refuses are split off and set aside.

        A batch that fails because of its contents (``click_quarantine.row_fault``) is
        halved and each half written on its own, down to the single rows that fail,
        which are quarantined: one bad row costs about two transactions per halving, and
        never the other clicks. Any other failure (an outage) raises with the whole batch
        unwritten from the caller's point of view; halves committed before it are
        recognised when the batch is sent again (see ``write_all``).

        Returns:
            How many rows were set aside, by kind of refusal (empty almost always).

        Raises:
            Exception: whatever kept the clicks from being committed, when it was not
                the rows' fault.
        """
        quarantined: Counter[str] = Counter()
        await self._write_or_split(list(rows), quarantined)
        return quarantined

    async def _write_or_split(self, rows: list[Sequence[Any]], quarantined: Counter[str]) -> None:
        try:
            await self.write_all(rows)
        except Exception as error:
            kind = row_fault(error)
            if kind is None:
                raise
            if len(rows) == 1:
                self._quarantine.add(kind, rows[0], error)
                quarantined[kind] += 1
                return
            middle = len(rows) // 2
            await self._write_or_split(rows[:middle], quarantined)
            await self._write_or_split(rows[middle:], quarantined)

    async def write_all(self, rows: Sequence[Sequence[Any]]) -> None:
        """Hash the batch's visits, then in one transaction store its clicks, screen them
        and award first-click badges.

        One transaction, so clicks and their fraud counters commit together. The rare
        cases redo it instead of paying on every batch (a savepoint around each step
        cost SQLite its sub-journal, 0.6 µs a click):

        - a batch resent after its writer died unacknowledged: when the insert skips any
          click, the transaction is rolled back and redone with only the clicks not
          stored yet, so each is counted exactly once;
        - a failing screening or badge step: it is logged, the transaction rolled back
          and redone without that step, so such a bug never costs the clicks.

        Raises:
            Exception: whatever kept the clicks from being committed (nothing was).
        """
        batch = _hashed(rows, self.salt)
        if not batch:
            return
        resent = False
        skipped: set[str] = set()
        for _ in range(len(_STEPS) + 2):  # a redo per failed step, one for a resend
            try:
                badged = await self._store(batch, resent=resent, skipped=skipped)
                break
            except _AlreadyStored:
                if resent:
                    raise RuntimeError("clicks were stored while a resend was redone") from None
                resent = True
            except _StepFailed as failed:
                skipped.add(failed.step)
        else:  # pragma: no cover - each pass settles a resend or a step for good
            raise RuntimeError(f"could not write a batch of {len(batch)} clicks")
        if len(self._badged_links) > MAX_BADGED_LINKS:
            self._badged_links.clear()
        self._badged_links.update(badged)  # only once committed

    async def _store(self, batch: list[NewClick], *, resent: bool, skipped: set[str]) -> set[int]:
        """One attempt; returns the links it settled the first-click badge for."""
        async with self._writer, self._database.transaction() as store:
            if resent:
                known = await store.clicks.known(click.click_id for click in batch)
                log.info("%s clicks of a resent batch were stored already", len(known))
                batch = [click for click in batch if click.click_id not in known]
                if not batch:
                    return set()
            if await store.clicks.add_many(batch) < len(batch):
                raise _AlreadyStored
            if SCREEN not in skipped:
                await _step(SCREEN, self._screen(store, batch), len(batch))
            if BADGES in skipped:
                return set()
            return await _step(BADGES, self._first_clicks(store, batch), len(batch))

    async def _screen(self, store: Store, batch: Sequence[NewClick]) -> None:
        if self._fraud is None or not self._fraud.enabled:
            return
        await screen_clicks(
            store, batch, rules=self._fraud, now=batch[-1].occurred_at, memory=self._screening
        )

    async def _first_clicks(self, store: Store, batch: Sequence[NewClick]) -> set[int]:
        """One set-based statement for the batch's links not settled by an earlier
        batch; returns the links it settled."""
        link_ids = {click.link_id for click in batch} - self._badged_links
        if link_ids:
            await first_clicks(store, link_ids, now=batch[-1].occurred_at)
        return link_ids


SCREEN = "fraud screening"
BADGES = "first-click badges"
_STEPS = (SCREEN, BADGES)


async def _step(name: str, work: Awaitable[_T], clicks: int) -> _T:
    """Run one step after the insert; a failure is logged and ends this attempt."""
    try:
        return await work
    except (asyncio.CancelledError, _AlreadyStored):
        raise
    except Exception as error:
        log.exception("%s of %s clicks failed; writing them without it", name, clicks)
        raise _StepFailed(name) from error


class _AlreadyStored(Exception):
    """Some of a batch's clicks were committed before (a resend): roll back, redo."""


class _StepFailed(Exception):
    """A step after the insert failed (logged): roll back, redo without it."""

    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


def _hashed(rows: Sequence[Sequence[Any]], salt: str) -> list[NewClick]:
    """The batch as stored clicks: each visit's address hashed, once per distinct
    address in the batch (a flood from one address, when load is highest, hashes once).

    This loop runs once per click in the click writer, so it unpacks the rows and builds
    each ``NewClick`` with ``tuple.__new__`` (a named tuple's own constructor is a Python
    function call)."""
    hashes: dict[str, tuple[str, str | None]] = {}
    batch: list[NewClick] = []
    make = tuple.__new__
    for click_id, link_id, micros, ip_hash, address, agent, referer, net_hash in rows:
        known = (ip_hash, net_hash) if address is None else hashes.get(address)
        if known is None:
            if not salt:
                raise RuntimeError("no IP hash salt: refusing to hash visitors without one")
            known = hashes[address] = (hash_ip(salt, address), hash_network(salt, address))
        hashed_ip, hashed_net = known
        batch.append(
            make(NewClick, (click_id, link_id, micros, hashed_ip, agent, referer, hashed_net))
        )
    return batch


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
