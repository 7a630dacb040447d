"""The affbot command line, run as a real process."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.processes import affbot_env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return affbot_env(tmp_path)


def affbot(
    *args: str, env: dict[str, str], cwd: Path, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_help_lists_every_subcommand(env: dict[str, str], tmp_path: Path) -> None:
    result = affbot("--help", env=env, cwd=tmp_path)
    assert result.returncode == 0
    for name in ("run", "console", "db"):
        assert re.search(rf"^\s+{name}\s", result.stdout, flags=re.M), name


def test_config_errors_stop_start_up_with_one_clear_message(
    env: dict[str, str], tmp_path: Path
) -> None:
    del env["AFFBOT_WEB__PORT"]  # the environment would override the file's bad value
    bad = tmp_path / "bad.toml"
    bad.write_text("[web]\nport = 'eighty'\n[discrod]\ntoken = 'x'\n", encoding="utf-8")
    result = affbot("run", "--config", str(bad), env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "web.port: Input should be a valid integer" in result.stderr
    assert "discrod: unknown key" in result.stderr
    assert "Traceback" not in result.stderr
    missing = affbot("console", "--config", str(tmp_path / "nope.toml"), env=env, cwd=tmp_path)
    assert missing.returncode == 2
    assert "no such config file" in missing.stderr


def test_db_upgrade(env: dict[str, str], tmp_path: Path) -> None:
    result = affbot("db", "upgrade", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"database at revision \w+\n", result.stdout)
    assert (tmp_path / "bot.db").exists()


def test_unreachable_database_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    env["AFFBOT_DATABASE__URL"] = "postgresql://nobody@127.0.0.1:1/none"
    result = affbot("db", "upgrade", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("affbot: ")
    assert "Traceback" not in result.stderr


def test_run_without_tokens_or_terminal_serves_links_and_stops_on_sigterm(
    env: dict[str, str], tmp_path: Path
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert process.stderr is not None
        port = None
        log: list[str] = []
        deadline = time.monotonic() + 30
        while port is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            log.append(line)
            if match := re.search(r"listening on http://127\.0\.0\.1:(\d+)", line):
                port = int(match.group(1))
        assert port, "".join(log)
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as response:
            assert response.status == 200

        # The console works beside the running bot on the same SQLite file.
        console = affbot(
            "console",
            "--manager",
            env=env,
            cwd=tmp_path,
            stdin="/program add shop https://shop.example/p?x=1 10%\n/join shop\n/link shop\n",
        )
        assert console.returncode == 0, console.stderr
        code = re.search(r"/r/([A-Za-z0-9]{8})", console.stdout)
        assert code, console.stdout

        class NoFollow(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: object, **kwargs: object) -> None:
                return None

        opener = urllib.request.build_opener(NoFollow)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(f"{base}/r/{code.group(1)}", timeout=10)
        assert redirect.value.code == 302
        location = redirect.value.headers["Location"]
        assert location.startswith("https://shop.example/p?x=1&")
        assert f"ref={code.group(1)}" in location
        assert re.search(r"click_id=\w+", location)
        assert redirect.value.headers["Cache-Control"] == "no-store"
        redirect.value.close()
        with pytest.raises(urllib.error.HTTPError) as unknown:
            opener.open(f"{base}/r/nosuchcode", timeout=10)
        assert unknown.value.code == 404
        unknown.value.close()

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        rest = process.stderr.read()
        assert "no chat adapter configured" in "".join(log) + rest
        assert "Traceback" not in "".join(log) + rest
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()  # reaps the process and closes its pipes


def test_run_with_piped_commands_answers_them_and_stops_at_the_end(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Issue 16: `scripts/start` (affbot run) with commands piped in used to ignore them
    silently; now they run one per line, and the end of the input stops the bot."""
    done = affbot(
        "run",
        env=env,
        cwd=tmp_path,
        stdin="/program add shop https://shop.example/ 10%\n/programs\n/announce Hi all\n",
    )
    assert done.returncode == 0, done.stderr
    assert "== Program shop created ==" in done.stdout
    assert "Announcement queued for 1 channel" in done.stdout
    assert "-- message in announcements --\n== Announcement ==\nHi all" in done.stdout
    assert "reading console commands from standard input, one per line" in done.stderr
    assert "Traceback" not in done.stderr
