"""The console slice end to end: piped command lines in, rendered replies out."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

from bot.adapters.console import ConsoleAdapter
from commands.core.dispatcher import Dispatcher
from commands.core.invocation import USER_ID_LIMIT
from commands.core.reply import Button, Field, Image, Reply, Table, Visibility
from storage import Database
from tests.processes import ROOT, affbot_env

TOKEN = re.compile(r"check\?t=[0-9a-f]{32}")
CODE = re.compile(r"/r/[A-Za-z0-9]{8}")


async def converse(dispatcher: Dispatcher, lines: str, *, user: str, manager: bool) -> str:
    out = io.StringIO()
    adapter = ConsoleAdapter(
        dispatcher, user=user, manager=manager, stdin=io.StringIO(lines), stdout=out
    )
    await adapter.run()
    return TOKEN.sub("check?t=TOKEN", CODE.sub("/r/CODE", out.getvalue()))


async def test_first_slice_through_the_console(dispatcher: Dispatcher) -> None:
    manager_view = await converse(
        dispatcher,
        '/program add shop https://shop.example/landing?src=bot 12% "The Shop"\n'
        "/program add shop https://shop.example/ 10%\n",
        user="boss",
        manager=True,
    )
    assert manager_view == (
        "== Program shop created ==\n"
        "The Shop: 12% of the sale, attribution window 30 days, open to join.\n"
        "(Affiliates join with /join shop.)\n"
        "A program called shop exists already.\n"
    )
    alice_view = await converse(
        dispatcher,
        "/stats\n/programs\n/join shop\n/join shop\n/link shop\n/stats\n"
        "/program add x https://x.example 5%\n",
        user="alice",
        manager=False,
    )
    assert alice_view == (
        "You are not an affiliate yet. See the open programs with /programs and join one "
        "with /join <program>.\n"
        "(private: only you can see this)\n"
        "== Open programs ==\n"
        "program  name      commission       caps  window   joining\n"
        "-------  --------  ---------------  ----  -------  -------\n"
        "shop     The Shop  12% of the sale  none  30 days  instant\n"
        "(Join one with /join <program>.)\n"
        "== Welcome to The Shop ==\n"
        "You are in. Get your referral link with /link shop.\n"
        "(private: only you can see this)\n"
        "You are already in The Shop. Get your link with /link shop.\n"
        "(private: only you can see this)\n"
        "== Your link for The Shop ==\n"
        "Share this link; every click and sale through it counts for you.\n"
        "Link: https://go.example.test/r/CODE\n"
        "Share text: Check out The Shop: https://go.example.test/r/CODE\n"
        "Check it yourself: https://go.example.test/r/CODE/check?t=TOKEN\n"
        "[Open link] https://go.example.test/r/CODE\n"
        "(Keep the check link to yourself: open it to check your link; it does not count as "
        "a click.)\n"
        "(More ready-made posts and banners: /materials shop)\n"
        "(private: only you can see this)\n"
        "== Your stats, this month ==\n"
        "No clicks or conversions this month yet. Share your link (/link <program>) to "
        "start counting.\n"
        "(private: only you can see this)\n"
        "/program add is for program managers only.\n"
    )


async def test_the_same_link_every_time(dispatcher: Dispatcher) -> None:
    await converse(dispatcher, "/program add shop https://s.example 5%\n", user="m", manager=True)
    lines = "/join shop\n/link shop\n/link shop\n/link shop spring\n"
    out = io.StringIO()
    adapter = ConsoleAdapter(
        dispatcher, user="ann", manager=False, stdin=io.StringIO(lines), stdout=out
    )
    await adapter.run()
    links = re.findall(r"Link: (\S+)", out.getvalue())
    assert len(links) == 3
    assert links[0] == links[1]
    assert links[2] != links[0]


async def test_help_lists_only_what_the_caller_may_use(dispatcher: Dispatcher) -> None:
    listing = await converse(dispatcher, "/help\n", user="a", manager=False)
    assert "/program add" not in listing
    assert "/join <program> — Join a program to get your referral link" in listing
    member = await converse(dispatcher, "/help program add\n", user="a", manager=False)
    assert member == "There is no command /program add you can use. Type /help for the list.\n"
    boss = await converse(dispatcher, "/help program add\n", user="b", manager=True)
    assert "Usage: /program add <slug> <destination-url> <commission> [name]" in boss
    assert "Example: /program add spring-sale" in boss


async def test_bad_input_gets_usage_and_writes_nothing(dispatcher: Dispatcher) -> None:
    out = await converse(
        dispatcher,
        "/program add shop ftp://shop.example 12%\n"
        "/program add shop https://user:pw@shop.example 12%\n"
        "/program add shop https://shop.example 12\n"
        "/program add shop https://shop.example 12% --window 9999\n"
        "/programs\n"
        "/frobnicate\n"
        "/program\n"
        "hello\n",
        user="boss",
        manager=True,
    )
    assert "The URL must start with http:// or https://.\nUsage: /program add" in out
    assert "The URL must not contain a user name or password." in out
    assert "'12' is not a commission: write a percentage like 12% or an amount like 5 USD" in out
    assert "Window must be at most 365." in out
    assert "There are no open programs yet." in out
    assert "There is no command /frobnicate. Type /help to see what you can do." in out
    assert "/program needs a subcommand.\n/program add <slug>" in out
    assert "Commands start with /." in out


def test_renderer_shows_every_part_and_drops_terminal_escapes(tmp_path: Path) -> None:
    adapter = ConsoleAdapter(
        Dispatcher.__new__(Dispatcher),
        user="x",
        manager=False,
        stdin=io.StringIO(""),
        stdout=io.StringIO(),
        image_dir=tmp_path,
    )
    text = adapter.render(
        Reply(
            title="T\x1b[31m",
            text="hello\x07 world",
            fields=(Field("a", "b"),),
            table=Table(("h1", "h2"), (("x", "yy"),)),
            image=Image(b"\x89PNG", "chart.png", "daily clicks"),
            buttons=(Button("Open", "https://x.example"),),
            visibility=Visibility.PRIVATE,
            notes=("note",),
        )
    )
    assert "\x1b" not in text
    assert "\x07" not in text
    assert text.startswith("== T[31m ==\nhello world\na: b\nh1  h2\n--  --\nx   yy\n")
    saved = list(tmp_path.glob("affbot-*.png"))
    assert len(saved) == 1
    assert saved[0].read_bytes() == b"\x89PNG"
    assert f"[image: daily clicks — {saved[0]}]" in text
    assert text.endswith("[Open] https://x.example\n(note)\n(private: only you can see this)")


def test_console_command_piped(tmp_path: Path) -> None:
    """`affbot console` as a subprocess, the way scripts and people pipe into it."""
    env = {
        **os.environ,
        "AFFBOT_DATABASE__URL": f"sqlite:///{tmp_path / 'bot.db'}",
        "AFFBOT_WEB__PUBLIC_BASE_URL": "https://go.example.test",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("AFFBOT_CONFIG", None)
    run = [sys.executable, "-m", "bot", "console", "--config", os.devnull]
    first = subprocess.run(
        [*run, "--manager"],
        input="/program add shop https://shop.example 5 USD\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    assert "5.00 USD per conversion" in first.stdout
    second = subprocess.run(
        [*run, "--as", "carol"],
        input="/join shop\n/link shop\n/program add y https://y.example 1%\n/quit\n/stats\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    assert "== Welcome to shop ==" in second.stdout
    assert re.search(r"Link: https://go\.example\.test/r/[A-Za-z0-9]{8}\n", second.stdout)
    assert "/program add is for program managers only." in second.stdout
    assert "Your stats" not in second.stdout  # /quit ended the session
    assert "Traceback" not in second.stderr


async def test_console_names_up_to_the_id_limit_join_on_every_engine(
    dispatcher: Dispatcher, database: Database
) -> None:
    name = "n" * USER_ID_LIMIT
    await converse(
        dispatcher, "/program add shop https://s.example 5%\n", user="boss", manager=True
    )
    joined = await converse(dispatcher, "/join shop\n", user=name, manager=False)
    assert "Welcome to" in joined
    async with database.read() as store:
        affiliate = await store.affiliates.by_identity("console", name)
    assert affiliate is not None
    assert affiliate.display_name == name


def test_affbot_console_refuses_a_name_it_could_not_store(tmp_path: Path) -> None:
    # Issue 17: `affbot console --as <101 characters>` then /join failed on PostgreSQL's
    # varchar; now the name is refused before anything starts, in one line.
    result = subprocess.run(
        [sys.executable, "-m", "bot", "console", "--as", "x" * 101],
        input="/join shop\n",
        capture_output=True,
        text=True,
        env={**affbot_env(tmp_path)},
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert f"argument --as: the name is longer than {USER_ID_LIMIT} characters" in result.stderr
    assert "Traceback" not in result.stderr
