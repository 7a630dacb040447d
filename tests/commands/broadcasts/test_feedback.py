"""Private weekly feedback: wording for typical, zero and extreme affiliates, tips, chart."""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from commands.broadcasts.feedback import (
    FeedbackNumbers,
    ProgramLine,
    change,
    choose_tip,
    compose_feedback,
    feedback_messages,
)
from commands.core import calendar
from commands.core.reply import Reply, Visibility
from commands.reporting.chart import daily_bars
from storage import Database
from tests.activity import add_clicks, add_conversions, add_member, add_program
from tests.conftest import Clock

UTC_ZONE = ZoneInfo("UTC")
WEEK = tuple("Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split())


def numbers(**overrides: object) -> FeedbackNumbers:
    values: dict[str, object] = {
        "label": "last week",
        "clicks": 120,
        "conversions": 6,
        "previous_clicks": 100,
        "previous_conversions": 8,
        "pending": {"USD": 1250},
        "approved": {"USD": 3000},
        "rank": 3,
        "previous_rank": 5,
        "programs": (ProgramLine("shop", 120, 6, 0.05),),
        "daily": ((10, 1), (30, 2), (20, 0), (15, 1), (15, 0), (20, 2), (10, 0)),
        "day_names": WEEK,
    }
    values.update(overrides)
    return FeedbackNumbers(**values)  # type: ignore[arg-type]


def field_values(reply: Reply) -> dict[str, str]:
    return {field.name: field.value for field in reply.fields}


def test_typical_affiliate_gets_numbers_trend_rank_tip_and_chart() -> None:
    reply = compose_feedback(numbers())
    assert reply.visibility is Visibility.PRIVATE
    assert reply.title == "Your results, last week"
    assert field_values(reply) == {
        "Clicks": "120 (+20%)",
        "Conversions": "6 (−25%)",
        "Conversion rate": "5.0%",
        "Commission pending": "12.50 USD",
        "Commission approved": "30.00 USD",
        "Rank": "#3 (up 2)",
    }
    assert reply.text.startswith("Tip: ")
    assert reply.image is not None
    assert reply.image.data.startswith(b"\x89PNG")
    assert reply.table is None  # one program: the fields say it all
    assert Reply.from_json(reply.to_json()) == reply


def test_zero_affiliate_gets_a_short_nudge_not_a_wall_of_zeros() -> None:
    reply = compose_feedback(
        numbers(
            clicks=0,
            conversions=0,
            previous_clicks=0,
            previous_conversions=0,
            pending={},
            approved={},
            rank=None,
            previous_rank=None,
            programs=(),
            daily=((0, 0),) * 7,
        )
    )
    assert reply.fields == ()
    assert reply.image is None
    assert reply.text.startswith("Nothing to report last week.")
    assert "/materials" in reply.text
    assert "0" not in reply.text
    assert reply.visibility is Visibility.PRIVATE


def test_extreme_affiliate_numbers_stay_exact_and_readable() -> None:
    reply = compose_feedback(
        numbers(
            clicks=1_234_567_890,
            conversions=98_765_432,
            previous_clicks=1,
            previous_conversions=0,
            pending={"USD": 10**15, "JPY": 123_456_789, "BHD": 1},
            approved={"EUR": 0},
            rank=1,
            previous_rank=1,
            programs=(
                ProgramLine("shop", 1_234_567_000, 98_765_000, None),
                ProgramLine("app", 890, 432, None),
            ),
            daily=((10**9, 10**7), (0, 0), (1, 0), (0, 1), (5, 5), (7, 0), (0, 0)),
        )
    )
    values = field_values(reply)
    assert values["Clicks"] == "1,234,567,890 (×1,234,567,890)"
    assert values["Conversions"] == "98,765,432 (new)"
    assert values["Conversion rate"] == "8.0%"
    assert values["Commission pending"] == "0.001 BHD, 123,456,789 JPY, 10,000,000,000,000.00 USD"
    assert values["Commission approved"] == "–"
    assert values["Rank"] == "#1 (same)"
    assert reply.table is not None
    assert reply.table.rows[1] == ("app", "890", "432", "48.5%")
    assert reply.image is not None


def test_change_wording() -> None:
    assert change(12, 10) == "+20%"
    assert change(5, 10) == "−50%"
    assert change(10, 10) == "same"
    assert change(3, 0) == "new"
    assert change(0, 0) == "–"
    assert change(0, 4) == "−100%"
    assert change(99, 10) == "+890%"
    assert change(100, 10) == "×10"


def test_tips_follow_the_numbers() -> None:
    no_clicks = numbers(clicks=0, conversions=1, programs=())
    assert "/materials" in choose_tip(no_clicks)
    weak = numbers(programs=(ProgramLine("shop", 400, 2, 0.05),))
    assert "under half the program's typical 5.0%" in choose_tip(weak)
    assert "400 clicks" in choose_tip(weak)
    close = numbers(rank=12, short_of_top=2)
    assert choose_tip(close).startswith("2 more conversions would have put you in the top 10")
    dropping = numbers(conversions=2, previous_conversions=10)
    assert "dropped" in choose_tip(dropping)
    assert "Tuesday" in choose_tip(dropping)  # the day with the most conversions
    clicks_only = numbers(conversions=0, previous_conversions=0, daily=())
    assert choose_tip(clicks_only).startswith("120 clicks but no conversion yet")
    growing = numbers(conversions=9, previous_conversions=4)
    assert choose_tip(growing).startswith("You are growing (Tuesday was your best day)")
    steady = numbers(conversions=8, previous_conversions=8)
    assert choose_tip(steady).startswith("Steady results")


def test_chart_is_a_valid_png_sized_to_the_days() -> None:
    data = daily_bars([(10, 1), (0, 0), (300, 12), (5, 0), (0, 3), (1, 1), (2, 0)])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks = 8, {}
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + body) == crc
        chunks[kind] = body
        offset += 12 + length
    width, height, depth, colour, *_ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (width, height, depth, colour) == (16 + 7 * 36, 116, 8, 3)
    pixels = zlib.decompress(chunks[b"IDAT"])
    assert len(pixels) == height * (width + 1)
    assert set(pixels) <= {0, 1, 2, 3}
    assert 3 in pixels  # conversions drawn
    assert len(data) < 4000


async def test_feedback_is_queued_per_affiliate_account_with_dedupe_keys(
    database: Database, clock: Clock
) -> None:
    now = clock()
    program = await add_program(database, now)
    busy = await add_member(database, now, program, "Ann")
    idle = await add_member(database, now, program, "Ben")
    quiet = await add_member(database, now, program, "Cid", feedback="off")
    gone = await add_member(database, now, program, "Dee", status="suspended")
    monday = datetime(2026, 11, 9, tzinfo=UTC)
    await add_clicks(database, busy, [monday + timedelta(hours=h) for h in range(40)])
    await add_conversions(database, busy, [monday + timedelta(days=1, hours=1)] * 3)
    await add_conversions(database, busy, [monday - timedelta(days=2)] * 2)  # week before
    await add_clicks(database, quiet, [monday + timedelta(hours=1)])
    await add_clicks(database, gone, [monday + timedelta(hours=1)])

    span = calendar.period("last-week", now, UTC_ZONE)
    async with database.transaction() as store:
        messages = await feedback_messages(
            store, span, UTC_ZONE, platforms={"console"}, now=now, broadcast_key="fb"
        )
        assert await store.outbox.enqueue(messages, now=now) == 2
        again = await feedback_messages(
            store, span, UTC_ZONE, platforms={"console"}, now=now, broadcast_key="fb"
        )
        assert await store.outbox.enqueue(again, now=now) == 0
    by_key = {m.dedupe_key: m for m in messages}
    assert set(by_key) == {
        f"feedback:2026-W46:affiliate-{busy.affiliate_id}:console",
        f"feedback:2026-W46:affiliate-{idle.affiliate_id}:console",
    }
    ann = Reply.from_json(
        by_key[f"feedback:2026-W46:affiliate-{busy.affiliate_id}:console"].payload
    )
    assert field_values(ann)["Clicks"] == "40 (new)"
    assert field_values(ann)["Conversions"] == "3 (+50%)"
    assert field_values(ann)["Commission approved"] == "15.00 USD"
    assert field_values(ann)["Rank"] == "#1 (same)"
    assert ann.image is not None
    ben = Reply.from_json(
        by_key[f"feedback:2026-W46:affiliate-{idle.affiliate_id}:console"].payload
    )
    assert ben.text.startswith("Nothing to report last week.")
    assert by_key[f"feedback:2026-W46:affiliate-{idle.affiliate_id}:console"].target_id == "ben"
    # Accounts on platforms without a running dispatcher are not messaged.
    async with database.read() as store:
        none = await feedback_messages(
            store, span, UTC_ZONE, platforms={"telegram"}, now=now, broadcast_key="fb"
        )
    assert none == []
