"""Deep-link referrals: t.me/<bot>?start=<code> invitations and what /start records."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from commands.core.dispatcher import Dispatcher
from commands.fraud import FraudRules
from commands.fraud.inactive import check_inactive_referrals
from commands.tracking.referrals import Outcome, record_signup, signup_txn_id, valid_payload
from storage import Database
from storage.referrals import SignupReferral
from tests.conftest import Clock
from tests.fakes.telegram import BotUnderTest, FakeTelegram, running_bot

MANAGER_ID = 1001
ALICE_ID = 2001
BOB_ID = 2002
CAROL_ID = 2003

manager = FakeTelegram.user(MANAGER_ID, "Maria")
alice = FakeTelegram.user(ALICE_ID, "Alice")
bob = FakeTelegram.user(BOB_ID, "Bob")
carol = FakeTelegram.user(CAROL_ID, "Carol")
INVITE = re.compile(r"https://t\.me/affbot_test_bot\?start=([A-Za-z0-9_-]+)")


@pytest.fixture
async def telegram(
    dispatcher: Dispatcher, database: Database, clock: Clock
) -> AsyncIterator[BotUnderTest]:
    async with running_bot(dispatcher, manager_user_ids=[MANAGER_ID]) as bot:
        await bot.say(manager, "/program add app https://app.example/signup 2 USD")
        await bot.say(manager, "/program add shop https://shop.example 10%")
        async with database.transaction() as store:
            program = await store.programs.by_slug("app")
            assert program is not None
            await store.referrals.set_signup_referrals(program.id, True, now=clock())
        await bot.say(alice, "/join app")
        await bot.say(alice, "/join shop")
        yield bot


async def invite_code(telegram: BotUnderTest, program: str) -> str:
    sent = await telegram.say(alice, f"/link {program}")
    match = INVITE.search(sent[0].text)
    assert match, sent[0].text
    assert {"text": "Invite on Telegram", "url": match.group(0)} in sent[0].buttons
    return match.group(1)


async def signups(database: Database) -> list[SignupReferral]:
    async with database.read() as store:
        affiliate = await store.affiliates.by_identity("telegram", str(ALICE_ID))
        assert affiliate is not None
        return await store.referrals.signups_of(affiliate.id)


async def test_link_offers_a_telegram_invite_for_signup_programs(telegram: BotUnderTest) -> None:
    code = await invite_code(telegram, "app")
    assert valid_payload(code)
    link = (await telegram.say(alice, "/link shop"))[0]
    assert "t.me/" not in link.text
    assert all("t.me" not in button["url"] for button in link.buttons)


async def test_a_deep_link_start_records_one_pending_signup(
    telegram: BotUnderTest, database: Database, clock: Clock
) -> None:
    code = await invite_code(telegram, "app")
    sent = await telegram.say(bob, f"/start {code}")
    assert "Hi Bob!" in sent[0].text
    assert "invitation to app" in sent[0].text
    assert "What you can do" in sent[1].text, "/start also shows /help"
    [signup] = await signups(database)
    assert signup.txn_id == signup_txn_id("telegram", str(BOB_ID)) == "signup:telegram:2002"
    assert signup.status == "pending"
    assert signup.commission_minor == 0, "a signup earns only once it qualifies"
    assert signup.customer_id == "telegram:2002"
    assert signup.occurred_at == clock()

    again = await telegram.say(bob, f"/start {code}")
    assert "Hi Bob!" in again[0].text
    assert len(await signups(database)) == 1, "a repeated start changes nothing"

    await telegram.say(carol, f"/start {code}")
    assert len(await signups(database)) == 2


async def test_opening_your_own_invite_is_not_a_referral(
    telegram: BotUnderTest, database: Database
) -> None:
    code = await invite_code(telegram, "app")
    sent = await telegram.say(alice, f"/start {code}")
    assert "your own invitation link" in sent[0].text
    assert await signups(database) == []


async def test_programs_without_signup_referrals_record_nothing(
    telegram: BotUnderTest, database: Database
) -> None:
    link = (await telegram.say(alice, "/link shop"))[0]
    code = link.buttons[0]["url"].rsplit("/", 1)[1]
    sent = await telegram.say(bob, f"/start {code}")
    assert "Hi Bob!" in sent[0].text
    assert "invitation" not in sent[0].text
    assert await signups(database) == []


async def test_plain_start_and_unknown_payloads_just_greet(
    telegram: BotUnderTest, database: Database
) -> None:
    for line in ("/start", "/start welcome", "/start nosuchcode", "/start _tgr_abcdef"):
        sent = await telegram.say(bob, line)
        assert sent[0].text.startswith("<b>Welcome</b>\n\nHi Bob!")
        assert "What you can do" in sent[1].text
    assert await signups(database) == []


async def test_paused_programs_and_bad_codes_are_refused_in_the_core(
    telegram: BotUnderTest, database: Database, clock: Clock
) -> None:
    code = await invite_code(telegram, "app")
    async with database.transaction() as store:
        program = await store.programs.by_slug("app")
        assert program is not None
        await store.programs.set_status(program.id, "paused", now=clock())
    result = await record_signup(database, code, platform="telegram", user_id="9", now=clock())
    assert result.outcome is Outcome.CLOSED
    for bad in ("", "x" * 65, "_tgr_abc", "has space", "ünïcode"):
        outcome = await record_signup(database, bad, platform="telegram", user_id="9", now=clock())
        assert outcome.outcome is Outcome.UNKNOWN
    assert await signups(database) == []


async def waiting(database: Database, user_id: int) -> bool:
    """Whether the signup referral of ``user_id`` has not come back yet."""
    async with database.read() as store:
        return await store.referral_activity.watched("telegram", str(user_id))


async def test_the_start_exchange_is_not_a_return_but_a_later_visit_is(
    telegram: BotUnderTest, database: Database, clock: Clock
) -> None:
    """Issue 16, bug 4: the /help that answers a referral's /start marked it "returned"
    at once, so the inactive-referrals rule could never fire on Telegram."""
    code = await invite_code(telegram, "app")
    sent = await telegram.say(bob, f"/start {code}")
    assert "What you can do" in sent[1].text
    # A scripted second command in the same minute is still the signup exchange.
    clock.advance(seconds=5)
    await telegram.say(bob, "/programs")
    await telegram.say(carol, f"/start {code}")
    assert await waiting(database, BOB_ID), "bob has not come back yet"
    # Carol comes back an hour later; Bob never does.
    clock.advance(hours=1)
    await telegram.say(carol, "/start")
    assert not await waiting(database, CAROL_ID)
    assert await waiting(database, BOB_ID)
    clock.advance(days=8)
    rules = FraudRules(
        referral_inactive_days=7, referral_inactive_min=1, referral_inactive_percent=50
    )
    async with database.transaction() as store:
        [flag_id] = await check_inactive_referrals(store, rules, now=clock())
        [flag] = await store.fraud.open_flags(since=None, program_id=None)
    assert flag.id == flag_id
    assert flag.rule == "inactive-referrals"
    assert flag.evidence["inactive"] == 1
    assert flag.evidence["referrals"] == 2
