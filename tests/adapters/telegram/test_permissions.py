"""The permission matrix on a real adapter: python-telegram-bot against the fake Bot API.

Every command's first example, typed in a private chat by someone who never joined, by
an affiliate and by a configured manager: refused or not exactly as the audience in
docs/COMMANDS.md says, and never the internal-error apology.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from commands.core import catalog
from commands.core.dispatcher import Dispatcher
from commands.core.registry import Audience
from tests.fakes.telegram import BotUnderTest, FakeTelegram, running_bot

MANAGER_ID = 1001
ALICE_ID = 2001
STRANGER_ID = 2002
SPECS = sorted(catalog.load(), key=lambda spec: spec.name)
PEOPLE = {
    "anonymous": FakeTelegram.user(STRANGER_ID, "Stranger"),
    "affiliate": FakeTelegram.user(ALICE_ID, "Alice"),
    "manager": FakeTelegram.user(MANAGER_ID, "Maria"),
}


@pytest.fixture
async def telegram(dispatcher: Dispatcher) -> AsyncIterator[BotUnderTest]:
    async with running_bot(dispatcher, manager_user_ids=[MANAGER_ID]) as bot:
        yield bot


async def test_every_command_for_every_caller_on_telegram(telegram: BotUnderTest) -> None:
    await telegram.say(PEOPLE["manager"], "/program add shop https://shop.example/ 10%")
    await telegram.say(PEOPLE["affiliate"], "/join shop")
    wrong = []
    for spec in SPECS:
        for role, person in PEOPLE.items():
            sent = await telegram.say(person, spec.examples[0])
            text = "\n".join(call.text for call in sent)
            assert "something went wrong" not in text, (spec.name, role, text)
            manager_refusal = f"/{spec.name} is for program managers only." in text
            enrolment_refusal = "You are not an affiliate yet" in text
            if spec.audience is Audience.MANAGER:
                expected = (True, False) if role != "manager" else (False, False)
            elif spec.audience is Audience.AFFILIATE:
                expected = (False, role != "affiliate")  # the manager never joined
            else:
                expected = (False, False)
            if (manager_refusal, enrolment_refusal) != expected:
                wrong.append((spec.name, role, text[:80]))
    assert wrong == []
