"""``affbot console`` end to end: a real process, command lines piped into stdin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def affbot_console(tmp_path: Path, lines: str, *args: str) -> str:
    env = {
        **os.environ,
        "AFFBOT_DATABASE__URL": f"sqlite:///{tmp_path / 'affbot.db'}",
        "AFFBOT_WEB__PUBLIC_BASE_URL": "https://go.example.test",
        "AFFBOT_CONFIG": str(tmp_path / "none.toml"),
    }
    (tmp_path / "none.toml").write_text("", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "console", *args],
        input=lines,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


@pytest.mark.slow
def test_manager_and_affiliate_through_affbot_console(tmp_path: Path) -> None:
    setup = affbot_console(
        tmp_path,
        "/program add shop https://shop.example/ 10%\n"
        "/commission shop 12%\n/target conversions 10 month\n",
        "--as",
        "boss",
        "--manager",
    )
    assert "== Program shop created ==" in setup
    assert "10% of the sale → 12% of the sale, effective now." in setup
    assert "Target for every affiliate: 10 conversions a month." in setup
    joined = affbot_console(
        tmp_path, "/join shop\n/link shop\n/stats\n/leaderboard\n/report\n", "--as", "ann"
    )
    assert "== Welcome to shop ==" in joined
    assert "Link: https://go.example.test/r/" in joined
    assert "Targets: 0 of 10 conversions a month (0%)" in joined
    assert "No conversions yet in this period." in joined
    assert "/report is for program managers only." in joined


def test_the_console_shows_what_the_bot_sends_and_is_never_rate_limited(
    tmp_path: Path,
) -> None:
    """Issue 16: `affbot console` never showed the bot's own messages, /announce refused
    there ("No announcement channels are configured"), and an affiliate trying it hit the
    command cooldown after 8 piped commands."""
    setup = affbot_console(
        tmp_path, "/program add shop https://shop.example/ 10%\n", "--as", "boss", "--manager"
    )
    assert "== Program shop created ==" in setup
    many = "/join shop\n" + "/stats\n" * 12 + "/link shop\n"
    joined = affbot_console(tmp_path, many, "--as", "ann")
    assert "going a little fast" not in joined
    assert joined.count("== Your stats") == 12
    assert "Link: https://go.example.test/r/" in joined
    told = affbot_console(
        tmp_path,
        "/announce New banners are in! --dm\n/program pause shop\n",
        "--as",
        "boss",
        "--manager",
    )
    assert "Announcement queued for 1 channel" in told  # (and 1 affiliate privately)
    # Each message is printed after the reply of the command that queued it.
    announced = told.index("-- message in announcements --\n== Announcement ==")
    assert told.index("Announcement queued") < announced < told.index("Paused shop")
    assert "-- message to ann --\n== Announcement ==\nNew banners are in!" in told
    paused = told.index("-- message to ann --\n== shop is paused ==")
    assert paused > told.index("Paused shop")
    assert "Clicks on your links go to its page for now and do not count" in told
    assert "-- message in announcements --\n== shop is paused ==" in told
