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
