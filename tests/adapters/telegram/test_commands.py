"""End to end: people typing commands to the real python-telegram-bot against a fake API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.adapters.telegram.commands import telegram_name
from commands.core.dispatcher import Dispatcher
from commands.core.registry import Audience
from tests.fakes.telegram import BotUnderTest, Call, FakeTelegram, running_bot

MANAGER_ID = 1001
ADMIN_ID = 1002
ALICE_ID = 2001
BOB_ID = 2002
GROUP_ID = -100500

manager = FakeTelegram.user(MANAGER_ID, "Maria", last_name="Manager")
admin = FakeTelegram.user(ADMIN_ID, "Adam")
alice = FakeTelegram.user(ALICE_ID, "Alice")
bob = FakeTelegram.user(BOB_ID, "Bob")
group = FakeTelegram.group(GROUP_ID)

ADD_SHOP = '/program add shop https://shop.example/spring 12% "The Shop"'


@pytest.fixture
async def telegram(dispatcher: Dispatcher) -> AsyncIterator[BotUnderTest]:
    async with running_bot(
        dispatcher, manager_user_ids=[MANAGER_ID], announce_chat_ids=[GROUP_ID]
    ) as bot:
        bot.fake.admins[GROUP_ID] = [admin, FakeTelegram.user(7000001, "affbot", is_bot=True)]
        yield bot


def only(sent: list[Call]) -> str:
    assert len(sent) == 1, [call.text for call in sent]
    return sent[0].text


async def test_start_up_logs_in_and_publishes_menus_per_scope(
    telegram: BotUnderTest, dispatcher: Dispatcher
) -> None:
    fake = telegram.fake
    assert fake.of("getMe")
    assert fake.of("deleteWebhook"), "long polling starts by removing any webhook"
    menus = {
        (call.params["scope"]["type"], call.params["scope"].get("chat_id")): [
            entry["command"] for entry in call.params["commands"]
        ]
        for call in fake.of("setMyCommands")
    }
    everyone = menus[("default", None)]
    managers = menus[("chat", MANAGER_ID)]
    assert menus[("chat_administrators", GROUP_ID)] == managers
    for spec in dispatcher.registry:
        name = telegram_name(spec.words)
        assert name in managers
        assert (name in everyone) is (spec.audience is not Audience.MANAGER)
    assert "program_add" in managers
    assert "program_add" not in everyone
    await fake.wait_for(lambda: bool(fake.of("getUpdates")))


async def test_affiliate_journey_in_a_private_chat(telegram: BotUnderTest) -> None:
    assert "There are no open programs yet." in only(await telegram.say(alice, "/programs"))
    created = only(await telegram.say(manager, ADD_SHOP))
    assert "<b>Program shop created</b>" in created
    assert "12%" in created

    listing = only(await telegram.say(alice, "/programs"))
    assert "<pre>" in listing
    assert "The Shop" in listing

    assert "Welcome to The Shop" in only(await telegram.say(alice, "/join shop"))
    already = only(await telegram.say(alice, "/join shop"))
    assert "already in The Shop" in already

    link = (await telegram.say(alice, "/link shop youtube"))[0]
    assert link.chat_id == ALICE_ID
    url = link.buttons[0]["url"]
    assert url.startswith("https://go.example.test/r/")
    assert url in link.text
    assert "t.me/" not in link.text, "no Telegram invite unless the program counts signups"

    stats = only(await telegram.say(alice, "/stats"))
    assert "No clicks or conversions" in stats
    assert "Unknown" not in only(await telegram.say(alice, "/stats last-week"))

    details = only(await telegram.say(alice, "/help link"))
    assert "/link &lt;program&gt; [campaign]" in details


async def test_quoted_arguments_and_bot_name_suffix(telegram: BotUnderTest) -> None:
    text = only(
        await telegram.say(
            manager,
            "/program@affbot_test_bot add spring https://shop.example/s 5 USD 'Spring Sale'",
        )
    )
    assert "Program spring created" in text
    assert "Spring Sale" in text


async def test_menu_alias_for_two_word_commands(telegram: BotUnderTest) -> None:
    text = only(await telegram.say(manager, "/program_add app https://app.example/x 5 USD"))
    assert "Program app created" in text
    usage = only(await telegram.say(manager, "/program_add"))
    assert "Usage: /program add" in usage


async def test_manager_commands_are_refused_for_everyone_else(telegram: BotUnderTest) -> None:
    for line in (ADD_SHOP, "/program_add shop https://shop.example 5%"):
        refusal = only(await telegram.say(alice, line))
        assert "/program add is for program managers only." in refusal
    assert "no open programs" in only(await telegram.say(bob, "/programs"))
    # /help hides what a person cannot run.
    assert "/program add" not in only(await telegram.say(alice, "/help"))
    assert "/program add" in only(await telegram.say(manager, "/help"))


async def test_announcement_chat_admins_are_managers(telegram: BotUnderTest) -> None:
    created = await telegram.say(admin, ADD_SHOP, chat=group)
    assert "Program shop created" in only(created)
    assert created[0].chat_id == GROUP_ID
    assert created[0].params["reply_parameters"]["message_id"]
    await telegram.say(admin, "/program add other https://o.example 1%", chat=group)
    assert len(telegram.fake.of("getChatAdministrators")) == 1, "administrators are cached"
    refusal = only(await telegram.say(alice, "/program add x1 https://o.example 1%", chat=group))
    assert "managers only" in refusal


async def test_every_registered_command_answers(
    telegram: BotUnderTest, dispatcher: Dispatcher
) -> None:
    """Whatever the registry holds gets a Telegram handler and an answer, never silence."""
    for spec in dispatcher.registry:
        name = telegram_name(spec.words)
        for user in (manager, alice):
            sent = await telegram.say(user, f"/{name}")
            assert sent, f"/{name} got no answer"
            assert "something went wrong" not in sent[-1].text
            assert "There is no command" not in sent[-1].text, f"/{name} is not routed"


async def test_group_of_subcommands_and_unknown_text(telegram: BotUnderTest) -> None:
    text = only(await telegram.say(manager, "/program frobnicate"))
    assert "/program has no subcommand 'frobnicate'." in text
    assert "/program add" in text
    assert "Usage" not in text
    before = len(telegram.fake.calls)
    chatter = telegram.fake.say(alice, "just chatting, not a command")
    question = telegram.fake.say(alice, "/help")
    await telegram.adapter.wait_handled(chatter)
    await telegram.adapter.wait_handled(question)
    answered = [c for c in telegram.fake.calls[before:] if c.method == "sendMessage"]
    assert len(answered) == 1, "plain chat text is not answered"
    assert "What you can do" in answered[0].text


async def test_bad_input_gets_a_clear_answer(telegram: BotUnderTest) -> None:
    text = only(await telegram.say(manager, "/program add shop ftp://x 12%"))
    assert "must start with http:// or https://" in text
    assert "Usage: /program add" in text
    assert "quote is not closed" in only(await telegram.say(manager, '/program add "shop'))
    text = only(await telegram.say(alice, "/join <script>"))
    assert "&lt;script&gt;" in text
    assert "<script>" not in text


async def test_one_persons_quick_commands_are_answered_in_order(telegram: BotUnderTest) -> None:
    await telegram.say(manager, ADD_SHOP)
    fake = telegram.fake
    before = len(fake.calls)
    ids = [fake.say(alice, line) for line in ("/join shop", "/link shop", "/stats")]
    others = [fake.say(bob, "/programs") for _ in range(3)]
    for update_id in ids + others:
        await telegram.adapter.wait_handled(update_id)
    answers = [
        c.text for c in fake.calls[before:] if c.method == "sendMessage" and c.chat_id == ALICE_ID
    ]
    assert "Welcome to The Shop" in answers[0]
    assert "Your link for The Shop" in answers[1]
    assert "Your stats" in answers[2]


async def test_the_token_never_reaches_the_logs(
    telegram: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    await telegram.say(alice, "/help")
    ours = [r for r in caplog.records if not r.name.startswith("aiohttp")]  # the fake's log
    assert ours
    assert all(telegram.fake.token not in record.getMessage() for record in ours)


async def test_unreadable_admin_lists_make_nobody_a_manager(telegram: BotUnderTest) -> None:
    telegram.fake.fail("getChatAdministrators", 500)
    refusal = only(await telegram.say(admin, ADD_SHOP, chat=group))
    assert "managers only" in refusal
    assert "Program shop created" in only(await telegram.say(manager, ADD_SHOP))
