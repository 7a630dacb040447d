"""Running ``affbot`` as a real subprocess in tests: its environment, and whether a
process is gone."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def affbot_env(tmp_path: Path) -> dict[str, str]:
    """This process's environment without any affbot setting or platform token (so the
    developer's own config cannot leak in), a fresh SQLite database and any free port."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AFFBOT_") and key not in {"DISCORD_TOKEN", "TELEGRAM_TOKEN"}
    }
    return {
        **environ,
        "PYTHONPATH": str(ROOT),
        "AFFBOT_DATABASE__URL": f"sqlite:///{tmp_path / 'bot.db'}",
        "AFFBOT_WEB__PORT": "0",
        "NO_PROXY": "127.0.0.1,localhost",
    }


def gone(pid: int) -> bool:
    """Whether no process has this id any more (reaped, or never existed)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
