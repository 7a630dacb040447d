"""Telegram HTML rendering: escaping hostile text and splitting long replies safely."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.adapters.telegram.render import MESSAGE_LIMIT, escape, render, units
from commands.core.dispatcher import Dispatcher
from commands.core.invocation import Actor, ChatKind
from commands.core.reply import Button, Field, Image, Reply, Table
from storage import Database
from tests.fakes.telegram import BotUnderTest, FakeTelegram, running_bot

HOSTILE = "<b>Boss</b> & <a href='x'>co</a> \u202eevil\u202c \u200f😀👩‍👩‍👧 @admin"


class _Checker(HTMLParser):
    """Fails on anything Telegram's HTML parser would refuse: unknown or unbalanced tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in {"b", "i", "pre"}, tag
        assert not attrs
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack.pop() == tag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check(message: str) -> str:
    """Assert the message is valid Telegram HTML within the limit; return its plain text."""
    assert units(message) <= MESSAGE_LIMIT
    assert "&" not in message.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")
    checker = _Checker()
    checker.feed(message)
    checker.close()
    assert checker.stack == []
    return "".join(checker.text)


def test_every_user_string_is_escaped() -> None:
    reply = Reply(
        title=HOSTILE,
        text=HOSTILE,
        fields=(Field(HOSTILE, HOSTILE), Field("long", HOSTILE, inline=False)),
        table=Table(("name", "value"), ((HOSTILE, "1 & 2"),)),
        notes=(HOSTILE,),
    )
    [message] = render(reply).messages
    plain = check(message)
    assert "<b>Boss</b>" not in message
    assert "&lt;b&gt;Boss&lt;/b&gt; &amp; &lt;a href='x'&gt;" in message
    assert "\u202eevil\u202c" in plain, "right-to-left marks pass through as text"
    assert "😀👩‍👩‍👧" in plain
    assert plain.count("@admin") == 1, "no accidental mention outside <pre> (code is inert)"
    assert "@\u2060admin" in plain
    assert "<pre>name" in message


def test_control_characters_are_dropped() -> None:
    assert escape("a\x00b\x1b[31mc\nd") == "ab[31mc\nd"


def test_local_urls_become_text_instead_of_buttons() -> None:
    reply = Reply(
        text="x",
        buttons=(
            Button("Open", "http://127.0.0.1:8080/r/abc"),
            Button("Site", "https://a.example"),
        ),
    )
    rendered = render(reply)
    assert [button.url for button in rendered.buttons] == ["https://a.example"]
    assert "Open: http://127.0.0.1:8080/r/abc" in rendered.messages[0]


def test_long_text_is_split_under_the_limit_without_losing_anything() -> None:
    text = "\n".join(f"line {i}: " + "&<>" * 40 for i in range(200))
    messages = render(Reply(title="Report", text=text)).messages
    assert len(messages) > 1
    plain = [check(message) for message in messages]
    assert "".join(plain).replace("\n", "") == ("Report" + text).replace("\n", "")


def test_a_table_too_long_for_one_message_is_a_pre_block_in_each() -> None:
    rows = tuple((f"program-{i}", "x" * 80) for i in range(120))
    messages = render(
        Reply(title="Open programs", table=Table(("program", "name"), rows))
    ).messages
    assert len(messages) > 2
    for message in messages:
        check(message)
        assert message.count("<pre>") == 1


def test_one_enormous_word_and_emoji_are_split_safely() -> None:
    for text in ("&" * 5000, "😀" * 5000, "👩‍👩‍👧" * 1500, "é" * 9000):
        messages = render(Reply(text=text)).messages
        assert len(messages) >= 2
        assert "".join(check(message) for message in messages) == text


def test_photo_caption_is_escaped_and_short() -> None:
    image = Image(b"\x89PNG...", "chart.png", "<chart> " * 400)
    rendered = render(Reply(title="Leaderboard", image=image))
    assert rendered.messages == ()
    assert rendered.photo is image
    assert units(rendered.caption) <= 1024
    assert rendered.caption.startswith("<b>Leaderboard</b>\n&lt;chart&gt;")


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=9000), st.integers(min_value=80, max_value=MESSAGE_LIMIT))
def test_any_text_renders_to_valid_messages(text: str, limit: int) -> None:
    messages = render(Reply(title=text[:50], text=text), limit=limit).messages
    for message in messages:
        assert units(message) <= limit
        checker = _Checker()
        checker.feed(message)
        checker.close()
        assert checker.stack == []


# -- end to end -------------------------------------------------------------------------

MANAGER_ID = 1001
manager = FakeTelegram.user(MANAGER_ID, "Maria")


@pytest.fixture
async def telegram(dispatcher: Dispatcher) -> AsyncIterator[BotUnderTest]:
    async with running_bot(dispatcher, manager_user_ids=[MANAGER_ID]) as bot:
        yield bot


@pytest.mark.parametrize(
    "name",
    [
        "<b>Bold</b>",
        "Tom & Jerry",
        "x" * 5000,
        "\u202eevil\u202c \u200fمرحبا",
        "😀👩‍👩‍👧 party",
    ],
    ids=["tags", "ampersand", "5000-chars", "rtl", "emoji"],
)
async def test_hostile_names_reach_telegram_escaped(
    telegram: BotUnderTest, database: Database, name: str
) -> None:
    user = FakeTelegram.user(3001, name, last_name="<i>&</i>")
    sent = await telegram.say(user, "/start")
    greeting = sent[0].text
    check(greeting)
    assert html.escape(name[:20], quote=False) in greeting
    assert "<i>&" not in greeting
    joined = await telegram.say(manager, '/program add shop https://s.example 5% "<b>S&P</b>"')
    assert "&lt;b&gt;S&amp;P&lt;/b&gt;" in joined[0].text
    await telegram.say(user, "/join shop")
    async with database.read() as store:
        affiliate = await store.affiliates.by_identity("telegram", "3001")
    assert affiliate is not None
    assert len(affiliate.display_name) <= 100
    assert affiliate.display_name.startswith(name[:50])


async def test_a_long_listing_arrives_as_several_valid_messages(
    telegram: BotUnderTest, dispatcher: Dispatcher
) -> None:
    boss = Actor("console", "boss", "Boss", is_manager=True)
    for i in range(40):
        name = f"Program {i} " + "&<>" * 25
        line = f'/program add p{i:02d} https://s.example/{i} 5% "{name}"'
        [created] = await dispatcher.execute_line(line, boss, ChatKind.PRIVATE)
        assert created.title == f"Program p{i:02d} created"
    sent = await telegram.say(manager, "/programs")
    assert len(sent) >= 2
    seen = "".join(check(call.text) for call in sent)
    for i in range(40):
        assert f"p{i:02d}" in seen
    assert all(call.params["parse_mode"] == "HTML" for call in sent)
