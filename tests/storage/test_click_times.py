"""Click times: the click writer's integer microseconds store exactly what SQLAlchemy would.

``ClickRepository.add_many`` bypasses Core and formats SQLite's text itself (once per
second of a batch), so these tests hold it to the text ``UtcDateTime`` writes for the
same time, and every other query (ranges, unique clicks) to the same answers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import insert, select, text
from sqlalchemy.dialects import sqlite

from storage import Database
from storage.clicks import (
    MICROS_PER_HOUR,
    NewClick,
    _SqliteSeconds,
    micros_of,
    new_click,
    new_click_id,
    time_of,
)
from storage.migrate import upgrade
from storage.schema import clicks
from storage.types import UtcDateTime
from tests.tracking_support import seed

aware_times = st.datetimes(
    min_value=datetime(1971, 1, 1),  # noqa: DTZ001 - hypothesis takes naive bounds
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.sampled_from(
        [UTC, timezone(-timedelta(hours=5)), timezone(timedelta(hours=9.5))]
    ),
)


def click_at(link_id: int, at: datetime) -> NewClick:
    return new_click(
        click_id=new_click_id(),
        link_id=link_id,
        occurred_at=at,
        ip_hash="h" * 64,
        user_agent_family="firefox",
        referer_host=None,
    )


def sqlalchemy_text(at: datetime) -> str:
    """What Core stores in SQLite for a ``UtcDateTime`` bound to ``at``."""
    dialect = sqlite.dialect()
    processor = UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert processor is not None
    return str(processor(at))


@given(aware_times)
def test_micros_round_trip_exactly(at: datetime) -> None:
    assert time_of(micros_of(at)) == at
    assert time_of(micros_of(at)).tzinfo is UTC


@given(aware_times)
def test_the_writer_formats_sqlite_times_as_sqlalchemy_does(at: datetime) -> None:
    second, fraction = divmod(micros_of(at), 1_000_000)
    assert f"{_SqliteSeconds()[second]}.{fraction:06d}" == sqlalchemy_text(at)


async def test_written_clicks_read_back_exactly_and_bucket_by_hour(database: Database) -> None:
    seeded = await seed(database)
    eastern = timezone(timedelta(hours=-5))
    times = [
        datetime(2026, 11, 18, 12, 0, 0, 0, UTC),  # no fraction at all
        datetime(2026, 11, 18, 12, 59, 59, 999999, UTC),
        datetime(2026, 11, 18, 8, 0, 0, 1, eastern),  # 13:00:00.000001 UTC, next hour
        datetime(2026, 12, 31, 23, 59, 59, 500000, UTC),
    ]
    sent = [click_at(seeded.link.id, at) for at in times]
    async with database.transaction() as store:
        await store.clicks.add_many(sent)
    async with database.read() as store:
        rows = (
            await store.connection.execute(
                select(clicks.c.click_id, clicks.c.occurred_at, clicks.c.hour_bucket).order_by(
                    clicks.c.id
                )
            )
        ).all()
        # A range query binds its bounds through Core: the hand-made text must compare
        # the same way (on SQLite that is a text comparison).
        in_noon_hour = (
            await store.connection.execute(
                select(clicks.c.click_id).where(
                    clicks.c.occurred_at >= times[0],
                    clicks.c.occurred_at < times[0] + timedelta(hours=1),
                )
            )
        ).scalars()
        noon_hour = sorted(in_noon_hour)
    assert [(row.click_id, row.occurred_at) for row in rows] == [
        (one.click_id, at.astimezone(UTC)) for one, at in zip(sent, times, strict=True)
    ]
    assert [row.hour_bucket for row in rows] == [int(at.timestamp()) // 3600 for at in times]
    assert [one.micros // MICROS_PER_HOUR for one in sent] == [row.hour_bucket for row in rows]
    assert noon_hour == sorted([sent[0].click_id, sent[1].click_id])


async def test_the_sqlite_text_matches_a_core_insert(tmp_path: Path) -> None:
    """Byte for byte on SQLite, where times are text (PostgreSQL's timestamptz values
    are compared by the test above)."""
    database = Database.connect(f"sqlite:///{tmp_path / 'affbot.db'}")
    try:
        await upgrade(database)
        await _same_text_as_core(database)
    finally:
        await database.close()


async def _same_text_as_core(database: Database) -> None:
    seeded = await seed(database)
    at = datetime(2026, 11, 18, 12, 0, 0, 0, UTC)
    ours = click_at(seeded.link.id, at)
    core_id = new_click_id()
    async with database.transaction() as store:
        await store.clicks.add_many([ours])
        await store.connection.execute(
            insert(clicks).values(
                click_id=core_id,
                link_id=seeded.link.id,
                occurred_at=at,
                ip_hash="h" * 64,
                user_agent_family="firefox",
            )
        )
    async with database.read() as store:
        stored: dict[str, str] = dict(
            (
                await store.connection.execute(text("SELECT click_id, occurred_at FROM clicks"))
            ).all()
        )
    assert stored[ours.click_id] == stored[core_id]
