"""End to end in one process: config → default schedule → outbox → console sender."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from pathlib import Path

from bot.adapters.console import ConsoleAdapter
from bot.adapters.console_delivery import ConsoleSender
from bot.app import open_core, start_background
from bot.config import load_config
from tests.activity import add_conversions, add_member, add_program
from tests.conftest import Clock


async def test_weekly_post_and_feedback_reach_the_console(tmp_path: Path) -> None:
    config = load_config(
        environ={
            "AFFBOT_DATABASE__URL": f"sqlite:///{tmp_path / 'e2e.db'}",
            "AFFBOT_TIMEZONE": "Europe/Berlin",
            "AFFBOT_SCHEDULES__FEEDBACK_CRON": "0 9 * * mon",
            "AFFBOT_DELIVERY__POLL_SECONDS": "0.05",
        }
    )
    # Started on Monday 23 November at 08:59:50 in Berlin: the default schedules are made
    # then, and both are due at 09:00 (a schedule never runs a slot from before it existed).
    clock = Clock(datetime(2026, 11, 23, 7, 59, 50, tzinfo=UTC))
    out = io.StringIO()
    async with open_core(config, clock=clock) as core:
        program = await add_program(core.database, clock(), "shop")
        you = await add_member(core.database, clock(), program, "You", user_id="you")
        await add_conversions(core.database, you, [datetime(2026, 11, 17, 12, tzinfo=UTC)] * 2)
        adapter = ConsoleAdapter(
            core.dispatcher, user="you", manager=True, stdin=io.StringIO(""), stdout=out
        )
        background = await start_background(
            core, [ConsoleSender(adapter.render, stdout=out)], console_user="you"
        )
        assert background.schedules is not None
        clock.now = datetime(2026, 11, 23, 8, 0, 30, tzinfo=UTC)
        await background.schedules.sync()  # what the next re-sync (or the cron job) does
        try:
            async with asyncio.timeout(10):
                # The console sender writes to a plain StringIO: nothing to await but time.
                # Two posts, and the top-3 badge the week earned "You" (rewards).
                while out.getvalue().count("-- message") < 3:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
        finally:
            await background.stop()
        async with core.database.read() as store:
            counts = await store.outbox.counts()
    text = out.getvalue()
    assert (
        "-- message in announcements --\n== Leaderboard, week 47 (16 Nov–22 Nov 2026) ==" in text
    )
    assert "1  You        2            new" in text
    assert "-- message to you --\n== Your results, last week ==" in text
    assert "Conversions: 2 (new)" in text
    assert "(private: only you can see this)" in text
    assert "== New badge! ==\nYou earned the top-3-of-a-week badge" in text
    assert (counts.sent, counts.queued) == (3, 0)
