"""/delivery: a manager's view of the last broadcast."""

from __future__ import annotations

from bot.adapters.delivery import TransientFailure, Unreachable
from bot.delivery.backoff import Backoff
from bot.delivery.dispatcher import DispatchSettings, OutboxDispatcher
from bot.delivery.pacing import Limits
from commands.core.reply import Reply
from storage import Database
from storage.outbox import OutgoingMessage
from tests.conftest import Chat, Clock
from tests.fakes.senders import RecordingSender


def to(user: str, broadcast: str) -> OutgoingMessage:
    return OutgoingMessage(
        f"{broadcast}:{user}", "telegram", "user", user, Reply(text="hi").to_json(), broadcast
    )


async def test_counts_of_the_latest_broadcast(
    manager: Chat, database: Database, clock: Clock
) -> None:
    assert (await manager("/delivery")).text == "Nothing has been broadcast yet."
    async with database.transaction() as store:
        await store.affiliates.ensure_for_identity("telegram", "3", "Blocker", now=clock())
        await store.outbox.enqueue([to("1", "old")], now=clock())
        await store.outbox.enqueue([to(str(n), "announce:5") for n in range(1, 6)], now=clock())
    sender = RecordingSender(
        always={"3": Unreachable("bot was blocked by the user"), "4": TransientFailure("502")}
    )
    await OutboxDispatcher(
        database,
        sender,
        Limits(rate=1000, burst=100),
        settings=DispatchSettings(concurrency=2, poll_interval=0.01),
        backoff=Backoff(base=1, cap=1, max_attempts=1),
        clock=clock,
    ).run(until_idle=True)
    reply = await manager("/delivery")
    assert reply.title == "Delivery of announce:5"
    assert {f.name: f.value for f in reply.fields} == {
        "Queued": "0",
        "Sent": "3",
        "Failed": "2",
        "Unreachable": "1",
        "Skipped": "0",
    }
    assert reply.notes[0].startswith("Recent failures: telegram:3 — unreachable: bot was blocked")
    assert "telegram:4 — gave up after 1 attempt: TransientFailure: 502" in reply.notes[0]
    assert reply.notes[1] == "Done: 3 of 5 delivered."
    older = await manager("/delivery old")
    assert {f.name: f.value for f in older.fields}["Sent"] == "1"
    assert (await manager("/delivery nope")).text == "There is no broadcast 'nope'."
