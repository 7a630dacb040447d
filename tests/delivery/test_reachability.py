"""The delivery dispatcher forgets a refusal once the person talked to the bot again."""

from __future__ import annotations

from bot.adapters.delivery import Unreachable
from storage import Database
from tests.conftest import Clock
from tests.delivery.test_dispatcher import add_identity, dispatcher, message, queue, row
from tests.fakes.senders import RecordingSender


async def test_one_process_delivers_again_after_the_person_returns(
    database: Database, clock: Clock
) -> None:
    await add_identity(database, clock, "66")
    sender = RecordingSender(always={"66": Unreachable("Forbidden: bot was blocked by the user")})
    running = dispatcher(database, sender, clock)
    await queue(database, clock, message("66", "first"))
    await running.run(until_idle=True)
    assert (await row(database, "first"))["status"] == "failed"

    # They unblock the bot and send a command: touch clears the mark in the database.
    async with database.transaction() as store:
        await store.affiliates.touch("telegram", "66", now=clock())
    del sender.always["66"]
    clock.advance(seconds=1)
    await queue(database, clock, message("66", "second", broadcast="b2"))
    await running.run(until_idle=True)  # the same process, well within one lease
    assert (await row(database, "second"))["status"] == "sent"
    assert sender.requests["66"] == 2
