"""Operator mistakes through the real ``affbot`` process: one line saying what failed and
what to check, a non-zero exit, and never a traceback."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import PG_URL
from tests.fakes.discord import FakeDiscord
from tests.processes import affbot_env


async def _affbot(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run affbot without blocking the loop (the fakes serve on it); (exit, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, stderr.decode()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the probe is


def _the_error(stderr: str) -> str:
    """The line affbot ends on; nothing in stderr may be a traceback."""
    assert "Traceback" not in stderr, stderr
    return stderr.strip().splitlines()[-1]


async def test_affbot_run_exits_1_with_one_line_when_discord_refuses_the_token(
    tmp_path: Path,
) -> None:
    fake = FakeDiscord()  # answers 401 to any other token
    await fake.start()
    env = affbot_env(tmp_path)
    env |= {
        "DISCORD_TOKEN": "not-the-token",
        "AFFBOT_DISCORD__API_BASE_URL": fake.api_base_url,
        "AFFBOT_DISCORD__GATEWAY_URL": fake.gateway_url,
    }
    try:
        status, stderr = await _affbot("run", env=env, cwd=tmp_path)
    finally:
        await fake.close()
    assert status == 1
    assert _the_error(stderr) == (
        "affbot: discord: the bot token was refused (check discord.token / DISCORD_TOKEN)"
    )
    assert "not-the-token" not in stderr


async def test_affbot_run_exits_1_with_one_line_when_discord_cannot_be_reached(
    tmp_path: Path,
) -> None:
    port = _closed_port()
    env = affbot_env(tmp_path)
    env |= {
        "DISCORD_TOKEN": "some-token",
        "AFFBOT_DISCORD__API_BASE_URL": f"http://127.0.0.1:{port}/api/v10",
        "AFFBOT_DISCORD__GATEWAY_URL": f"ws://127.0.0.1:{port}/gateway",
    }
    status, stderr = await _affbot("run", env=env, cwd=tmp_path)
    assert status == 1
    line = _the_error(stderr)
    assert line.startswith(f"affbot: discord: cannot reach the API at http://127.0.0.1:{port}/")
    assert line.endswith("(check discord.api_base_url and the network)")


needs_postgresql = pytest.mark.skipif(PG_URL is None, reason="AFFBOT_TEST_DATABASE_URL not set")


def _postgresql(*, port: int | None = None, database: str | None = None) -> str:
    assert PG_URL is not None
    parts = urlsplit(PG_URL)
    host = f"{parts.username}@{parts.hostname}:{port or parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=host, path=f"/{database or parts.path[1:]}"))


@needs_postgresql
@pytest.mark.parametrize("command", [("db", "upgrade"), ("run",), ("export", "payouts")])
async def test_a_postgresql_url_on_a_closed_port_is_one_line(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    url = _postgresql(port=_closed_port())
    env = affbot_env(tmp_path) | {"AFFBOT_DATABASE__URL": url}
    status, stderr = await _affbot(*command, env=env, cwd=tmp_path)
    assert status == 1
    line = _the_error(stderr)
    assert line.startswith(f"affbot: database: cannot connect to {url}: ")
    assert "Connect call failed" in line
    assert line.endswith("(check database.url or AFFBOT_DATABASE__URL)")


@needs_postgresql
async def test_a_missing_postgresql_database_is_one_line(tmp_path: Path) -> None:
    url = _postgresql(database="affbot_no_such_database")
    env = affbot_env(tmp_path) | {"AFFBOT_DATABASE__URL": url}
    status, stderr = await _affbot("db", "upgrade", env=env, cwd=tmp_path)
    assert status == 1
    assert _the_error(stderr) == (
        f"affbot: database: cannot connect to {url}: database "
        '"affbot_no_such_database" does not exist (check database.url or AFFBOT_DATABASE__URL)'
    )


@pytest.mark.parametrize("port", ["99999", "abc"])
async def test_a_bad_port_in_the_database_url_is_a_config_error(tmp_path: Path, port: str) -> None:
    env = affbot_env(tmp_path) | {"AFFBOT_DATABASE__URL": f"postgresql://u:pw@127.0.0.1:{port}/x"}
    status, stderr = await _affbot("db", "upgrade", env=env, cwd=tmp_path)
    assert status == 2
    assert "database.url: the port must be a number from 1 to 65535" in stderr
    assert "pw" not in stderr
    assert "Traceback" not in stderr


async def test_a_sqlite_file_in_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nowhere' / 'bot.db'}"
    env = affbot_env(tmp_path) | {"AFFBOT_DATABASE__URL": url}
    for command in (("db", "upgrade"), ("console",), ("import", "conversions", __file__)):
        status, stderr = await _affbot(*command, env=env, cwd=tmp_path)
        assert status == 1, command
        assert _the_error(stderr) == (
            f"affbot: database: cannot open {url}: the folder {tmp_path / 'nowhere'} does not "
            "exist (check database.url or AFFBOT_DATABASE__URL)"
        )


async def test_files_that_cannot_be_used_are_one_line(tmp_path: Path) -> None:
    env = affbot_env(tmp_path)
    assert (await _affbot("db", "upgrade", env=env, cwd=tmp_path))[0] == 0
    missing = tmp_path / "nowhere" / "out"
    cases = {
        ("db", "backup", str(missing)): f"affbot: {missing.parent}: no such directory",
        ("db", "restore", str(missing)): f"affbot: {missing}: no such file",
        ("export", "payouts", "--output", str(missing)): (
            f"affbot: {missing}: cannot be written: No such file or directory"
        ),
        ("import", "conversions", str(missing)): f"affbot: {missing}: no such file",
    }
    for command, expected in cases.items():
        status, stderr = await _affbot(*command, env=env, cwd=tmp_path)
        assert status == 2, command
        assert _the_error(stderr) == expected
    restore_into = affbot_env(tmp_path) | {"AFFBOT_DATABASE__URL": f"sqlite:///{missing}.db"}
    backup = tmp_path / "b.db"
    assert (await _affbot("db", "backup", str(backup), env=env, cwd=tmp_path))[0] == 0
    status, stderr = await _affbot("db", "restore", str(backup), env=restore_into, cwd=tmp_path)
    assert status == 2
    assert (
        _the_error(stderr) == f"affbot: {missing.parent}: no such directory (check database.url)"
    )
