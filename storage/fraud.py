"""Fraud flags, the conversions they hold, and the click counters flood rules read.

Counters are added to per click batch (one upsert per batch, never a rescan of
``clicks``); flags are unique per ``dedupe_key`` so a rule that keeps seeing the same
traffic raises one flag, and concurrent raisers settle on one row. A rule that fires again
on other traffic of the same affiliate in the same program while its flag is open joins
that flag (one more occurrence, a later last-seen time) instead of queueing another one:
``group_key`` is unique while the flag is open, so concurrent raisers meet on one row, and
``fraud_flag_keys`` remembers every dedupe key a flag stands for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, NamedTuple

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import from_row, insert_ignoring_conflicts
from storage.schema import (
    conversion_events,
    conversions,
    fraud_click_counters,
    fraud_flag_conversions,
    fraud_flag_keys,
    fraud_flags,
    links,
)

FlagStatus = Literal["open", "approved", "rejected"]
CounterScope = Literal["ip", "net", "link", "signup"]


@dataclass(frozen=True, slots=True)
class NewFlag:
    """A rule that fired: on what, with which evidence (counts, times, hashes only)."""

    dedupe_key: str
    rule: str
    program_id: int | None
    affiliate_id: int | None
    link_id: int | None
    evidence: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Flag:
    id: int
    dedupe_key: str
    rule: str
    program_id: int | None
    affiliate_id: int | None
    link_id: int | None
    evidence: dict[str, Any]
    status: FlagStatus
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    occurrences: int = 1  # how many times the rule fired into this flag
    last_seen_at: datetime | None = None  # the latest of them (None: only at created_at)

    @property
    def first_seen_at(self) -> datetime:
        return self.created_at

    @property
    def seen_at(self) -> datetime:
        """When the rule last fired into this flag."""
        return self.last_seen_at or self.created_at


@dataclass(frozen=True, slots=True)
class Raised:
    """Where a raised flag went: a new flag (alert the managers), or an open one it joined."""

    flag_id: int
    new: bool


class CounterKey(NamedTuple):
    """One counter: a link's clicks (or signups) in one window, for one visitor hash,
    one network hash, or the whole link. A named tuple: a busy batch makes one per
    visitor and looks each up several times, and a tuple hashes in C."""

    link_id: int
    scope: CounterScope
    key_hash: str
    window_start: int


class FraudRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def raise_flag(self, flag: NewFlag, *, now: datetime) -> Raised | None:
        """Store a flag, or count it into the open flag of its rule, program and affiliate.

        Returns ``None`` when its dedupe key was seen before (the same traffic again).
        Every write is an insert that ignores conflicts or an increment, so concurrent
        raisers end with one open flag per group and each key counted once.
        """
        key = flag.dedupe_key[:200]
        if await self._known(key):
            return None
        group = group_key(flag)
        for _ in range(3):  # the group's open flag may be settled between two statements
            inserted = (
                await self._connection.execute(
                    insert_ignoring_conflicts(self._connection, fraud_flags)
                    .values(
                        dedupe_key=key,
                        rule=flag.rule,
                        program_id=flag.program_id,
                        affiliate_id=flag.affiliate_id,
                        link_id=flag.link_id,
                        evidence=flag.evidence,
                        status="open",
                        created_at=now,
                        last_seen_at=now,
                        group_key=group,
                    )
                    .returning(fraud_flags.c.id)
                )
            ).first()
            if inserted is not None:
                flag_id = int(inserted[0])
                await self._claim(key, flag_id)
                return Raised(flag_id, new=True)
            if group is None:
                return None  # a concurrent raiser stored this very key
            joined = await self._join_open(group, key, now)
            if joined is not None:
                return joined
            if await self._known(key):
                return None
        return None

    async def _known(self, key: str) -> bool:
        found = await self._connection.execute(
            select(fraud_flag_keys.c.flag_id).where(fraud_flag_keys.c.dedupe_key == key)
        )
        return found.first() is not None

    async def _claim(self, key: str, flag_id: int) -> bool:
        """Record ``key`` as one of the flag's; ``False`` if it was already recorded."""
        claimed = await self._connection.execute(
            insert_ignoring_conflicts(self._connection, fraud_flag_keys)
            .values(dedupe_key=key, flag_id=flag_id)
            .returning(fraud_flag_keys.c.dedupe_key)
        )
        return claimed.first() is not None

    async def _join_open(self, group: str, key: str, now: datetime) -> Raised | None:
        """Count one more occurrence into the group's open flag, if it has one."""
        row = (
            await self._connection.execute(
                select(fraud_flags.c.id).where(fraud_flags.c.group_key == group)
            )
        ).first()
        if row is None:
            return None
        flag_id = int(row[0])
        if not await self._claim(key, flag_id):
            return None
        last = fraud_flags.c.last_seen_at
        await self._connection.execute(
            update(fraud_flags)
            .where(fraud_flags.c.id == flag_id)
            .values(
                occurrences=fraud_flags.c.occurrences + 1,
                last_seen_at=case((last.is_(None), now), (last < now, now), else_=last),
            )
        )
        return Raised(flag_id, new=False)

    async def open_flag_id(self, dedupe_key: str) -> int | None:
        """The id of the open flag that stands for this dedupe key, if there is one."""
        row = (
            await self._connection.execute(
                select(fraud_flags.c.id)
                .join(fraud_flag_keys, fraud_flag_keys.c.flag_id == fraud_flags.c.id)
                .where(fraud_flag_keys.c.dedupe_key == dedupe_key[:200])
                .where(fraud_flags.c.status == "open")
            )
        ).first()
        return int(row[0]) if row else None

    async def keys_of(self, flag_id: int) -> list[str]:
        """Every dedupe key the flag stands for: its own and its grouped repeats'."""
        rows = await self._connection.execute(
            select(fraud_flag_keys.c.dedupe_key)
            .where(fraud_flag_keys.c.flag_id == flag_id)
            .order_by(fraud_flag_keys.c.dedupe_key)
        )
        return list(rows.scalars())

    async def attach(self, flag_id: int, conversion_id: int, *, held: bool) -> None:
        """Name a conversion the flag is about; ``held`` if it was kept pending for review."""
        await self._connection.execute(
            insert_ignoring_conflicts(self._connection, fraud_flag_conversions).values(
                flag_id=flag_id, conversion_id=conversion_id, held=held
            )
        )

    async def get(self, flag_id: int) -> Flag | None:
        row = (
            await self._connection.execute(select(fraud_flags).where(fraud_flags.c.id == flag_id))
        ).first()
        return from_row(Flag, row) if row else None

    async def open_flags(
        self, *, since: datetime | None, program_id: int | None, limit: int = 50
    ) -> list[Flag]:
        """Open flags, newest first, optionally since a time and for one program."""
        query = select(fraud_flags).where(fraud_flags.c.status == "open")
        if since is not None:
            query = query.where(fraud_flags.c.created_at >= since)
        if program_id is not None:
            query = query.where(fraud_flags.c.program_id == program_id)
        rows = await self._connection.execute(
            query.order_by(fraud_flags.c.created_at.desc(), fraud_flags.c.id.desc()).limit(limit)
        )
        return [from_row(Flag, row) for row in rows]

    async def conversions_of(self, flag_id: int) -> list[tuple[int, bool]]:
        """(conversion id, held) for every conversion the flag names."""
        rows = await self._connection.execute(
            select(fraud_flag_conversions.c.conversion_id, fraud_flag_conversions.c.held)
            .where(fraud_flag_conversions.c.flag_id == flag_id)
            .order_by(fraud_flag_conversions.c.conversion_id)
        )
        return [(int(row[0]), bool(row[1])) for row in rows]

    async def held(self, conversion_id: int) -> bool:
        """Whether an open flag holds this conversion for review."""
        return await self.other_open_holds(conversion_id, 0) > 0

    async def other_open_holds(self, conversion_id: int, flag_id: int) -> int:
        """How many open flags other than ``flag_id`` hold this conversion."""
        joined = fraud_flag_conversions.join(
            fraud_flags, fraud_flags.c.id == fraud_flag_conversions.c.flag_id
        )
        query = (
            select(func.count())
            .select_from(joined)
            .where(fraud_flag_conversions.c.conversion_id == conversion_id)
            .where(fraud_flag_conversions.c.held.is_(True))
            .where(fraud_flags.c.status == "open")
            .where(fraud_flags.c.id != flag_id)
        )
        return int((await self._connection.execute(query)).scalar_one())

    async def decide(self, flag_id: int, status: FlagStatus, *, by: str, now: datetime) -> bool:
        """Settle an open flag; ``False`` if it was not open (already decided)."""
        result = await self._connection.execute(
            update(fraud_flags)
            .where(fraud_flags.c.id == flag_id)
            .where(fraud_flags.c.status == "open")
            # Settled: the group is free again, so the rule's next firing is a new flag.
            .values(status=status, decided_at=now, decided_by=by[:100], group_key=None)
        )
        return result.rowcount == 1

    async def add_clicks(self, counts: Mapping[CounterKey, int]) -> dict[CounterKey, int]:
        """Add a batch's click counts to the counters and return their new totals.

        One upsert with ``RETURNING`` for the whole batch: the totals come back from the
        rows just written, so no read ever touches a counter the batch did not (a popular
        link has a counter per visitor per window; reading them all back on every batch
        cost more than writing the clicks).
        """
        if not counts:
            return {}
        if self._connection.dialect.name == "sqlite":
            return await self._add_clicks_sqlite(counts)
        # One statement from column arrays: Core's per-row parameter handling cost the
        # click writer 12 µs of CPU per counter, this 6 (and PostgreSQL a tenth less).
        keys = list(counts)
        columns = (
            [key.link_id for key in keys],
            [key.scope for key in keys],
            [key.key_hash for key in keys],
            [key.window_start for key in keys],
            [counts[key] for key in keys],
        )
        result = await self._connection.exec_driver_sql(_PG_COUNTER_UPSERT, columns)
        rows: Sequence[Any] = result.all()  # link_id, scope, key_hash, window_start, clicks
        return {CounterKey(row[0], row[1], row[2], row[3]): row[4] for row in rows}

    async def _add_clicks_sqlite(self, counts: Mapping[CounterKey, int]) -> dict[CounterKey, int]:
        """SQLite: plain values straight to aiosqlite in multi-row statements, inside the
        transaction SQLAlchemy began on this connection, as ``ClickRepository.add_many``
        does; Core's per-row parameter handling cost more than the upsert itself."""
        raw = await self._connection.get_raw_connection()
        driver = raw.driver_connection
        if driver is None:  # pragma: no cover - a checked-out connection has one
            raise RuntimeError("the SQLite connection has no driver connection")
        items = list(counts.items())
        totals: dict[CounterKey, int] = {}
        for start in range(0, len(items), _COUNTER_CHUNK):
            chunk = items[start : start + _COUNTER_CHUNK]
            values = [
                value
                for key, count in chunk
                for value in (key.link_id, key.scope, key.key_hash, key.window_start, count)
            ]
            for link_id, scope, key_hash, window_start, clicks in await driver.execute_fetchall(
                _sqlite_counter_upsert(len(chunk)), values
            ):
                totals[CounterKey(link_id, scope, key_hash, window_start)] = clicks
        return totals

    async def prune_visitor_counters(self, before: int) -> int:
        """Delete per-visitor and per-network counters of windows starting before
        ``before``; returns how many went.

        Only the current window's are ever read (a flood is judged within its window),
        yet a busy link adds one or two per visitor per window: kept, they outgrew the
        clicks themselves and made every upsert slower as their index grew past the
        cache. Link and signup counters stay: baselines and rates read past windows.
        """
        result = await self._connection.execute(
            delete(fraud_click_counters)
            .where(fraud_click_counters.c.scope.in_(("ip", "net")))
            .where(fraud_click_counters.c.window_start < before)
        )
        return int(result.rowcount)

    async def link_history(self, link_id: int, before: int, windows: int) -> list[int]:
        """The link's total clicks in each of the ``windows`` windows before ``before``."""
        rows = await self._connection.execute(
            select(fraud_click_counters.c.window_start, fraud_click_counters.c.clicks)
            .where(fraud_click_counters.c.link_id == link_id)
            .where(fraud_click_counters.c.scope == "link")
            .where(fraud_click_counters.c.window_start < before)
            .order_by(fraud_click_counters.c.window_start.desc())
            .limit(windows)
        )
        return [int(row[1]) for row in rows]

    async def link_owners(self, link_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
        """(affiliate id, program id) of each link, for flags raised from clicks."""
        wanted = set(link_ids)
        if not wanted:
            return {}
        rows = await self._connection.execute(
            select(links.c.id, links.c.affiliate_id, links.c.program_id).where(
                links.c.id.in_(wanted)
            )
        )
        return {int(row[0]): (int(row[1]), int(row[2])) for row in rows}

    async def clicks_since(
        self, program_id: int, since_window: int, affiliate_id: int | None = None
    ) -> int:
        """Clicks on the program's links (or one affiliate's) from the counters."""
        joined = fraud_click_counters.join(links, links.c.id == fraud_click_counters.c.link_id)
        query = (
            select(func.coalesce(func.sum(fraud_click_counters.c.clicks), 0))
            .select_from(joined)
            .where(links.c.program_id == program_id)
            .where(fraud_click_counters.c.scope == "link")
            .where(fraud_click_counters.c.window_start >= since_window)
        )
        if affiliate_id is not None:
            query = query.where(links.c.affiliate_id == affiliate_id)
        return int((await self._connection.execute(query)).scalar_one())

    async def conversions_since(
        self, program_id: int, since: datetime, affiliate_id: int | None = None
    ) -> int:
        """Attributed conversions in the program (or one affiliate's) since a time."""
        query = (
            select(func.count())
            .select_from(conversions)
            .where(conversions.c.program_id == program_id)
            .where(conversions.c.occurred_at >= since)
        )
        if affiliate_id is not None:
            query = query.where(conversions.c.affiliate_id == affiliate_id)
        else:
            query = query.where(conversions.c.affiliate_id.is_not(None))
        return int((await self._connection.execute(query)).scalar_one())

    async def other_programs_with_txn(self, txn_id: str, program_id: int) -> list[int]:
        """Programs other than ``program_id`` that already hold transaction ``txn_id``."""
        rows = await self._connection.execute(
            select(conversions.c.program_id)
            .where(conversions.c.txn_id == txn_id)
            .where(conversions.c.program_id != program_id)
        )
        return sorted({int(row[0]) for row in rows})

    async def reversals_since(self, affiliate_id: int, since: datetime) -> list[int]:
        """Ids of the affiliate's conversions reversed at or after ``since``."""
        joined = conversion_events.join(
            conversions, conversions.c.id == conversion_events.c.conversion_id
        )
        rows = await self._connection.execute(
            select(conversions.c.id)
            .select_from(joined)
            .where(conversions.c.affiliate_id == affiliate_id)
            .where(conversion_events.c.status == "reversed")
            .where(conversion_events.c.occurred_at >= since)
            .order_by(conversions.c.id)
        )
        return [int(row[0]) for row in rows]

    async def conversions_at_customer_ip(
        self,
        program_id: int,
        affiliate_id: int,
        customer_ip_hash: str,
        since: datetime,
        *,
        limit: int = 500,
    ) -> list[tuple[int, str | None]]:
        """(id, customer_id) of the affiliate's conversions in the program reported with
        this customer IP hash since a time, oldest first, at most ``limit`` of them (read
        from the (affiliate_id, customer_ip_hash) index)."""
        rows = await self._connection.execute(
            select(conversions.c.id, conversions.c.customer_id)
            .where(conversions.c.affiliate_id == affiliate_id)
            .where(conversions.c.customer_ip_hash == customer_ip_hash)
            .where(conversions.c.program_id == program_id)
            .where(conversions.c.occurred_at >= since)
            .order_by(conversions.c.id)
            .limit(limit)
        )
        return [(int(row.id), row.customer_id) for row in rows]


_COUNTER_CHUNK = 100


_COUNTER_CONFLICT = (
    "ON CONFLICT (link_id, scope, key_hash, window_start) "
    "DO UPDATE SET clicks = fraud_click_counters.clicks + excluded.clicks "
    "RETURNING link_id, scope, key_hash, window_start, clicks"
)
_PG_COUNTER_UPSERT = (
    "INSERT INTO fraud_click_counters (link_id, scope, key_hash, window_start, clicks) "  # noqa: S608
    "SELECT * FROM unnest($1::bigint[], $2::varchar[], $3::varchar[], $4::integer[], "
    f"$5::integer[]) {_COUNTER_CONFLICT}"
)


@lru_cache(maxsize=8)
def _sqlite_counter_upsert(rows: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?)"] * rows)
    return (
        "INSERT INTO fraud_click_counters (link_id, scope, key_hash, window_start, clicks) "  # noqa: S608
        f"VALUES {values} {_COUNTER_CONFLICT}"
    )


def group_key(flag: NewFlag) -> str | None:
    """The open-flag group of ``flag``: its rule, program and affiliate (``None`` when it
    names no program or affiliate; such flags are never grouped)."""
    if flag.program_id is None or flag.affiliate_id is None:
        return None
    return f"{flag.rule}:{flag.program_id}:{flag.affiliate_id}"[:200]
