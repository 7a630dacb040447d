"""The outbox dispatcher on real databases: delivery, dedupe, retries, parking, leases."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import timedelta

from sqlalchemy import update

from bot.adapters.delivery import RetryAfter, TransientFailure, Unreachable
from bot.delivery.backoff import Backoff
from bot.delivery.dispatcher import DispatchSettings, OutboxDispatcher
from bot.delivery.pacing import Limits
from commands.core.reply import Reply
from storage import Database
from storage.outbox import OutgoingMessage
from storage.schema import identities
from tests.conftest import Clock
from tests.fakes.senders import RecordingSender

FAST = Limits(rate=10_000, burst=100)
SETTINGS = DispatchSettings(concurrency=4, poll_interval=0.05, mark_interval=0.02)


def message(
    target: str, key: str | None = None, *, broadcast: str | None = "b1"
) -> OutgoingMessage:
    return OutgoingMessage(
        dedupe_key=key or f"test:{target}",
        platform="telegram",
        target_kind="user",
        target_id=target,
        payload=Reply(text=f"hello {target}").to_json(),
        broadcast_key=broadcast,
    )


async def queue(database: Database, clock: Clock, *messages: OutgoingMessage) -> int:
    async with database.transaction() as store:
        return await store.outbox.enqueue(messages, now=clock())


def dispatcher(
    database: Database,
    sender: RecordingSender,
    clock: Clock,
    *,
    limits: Limits = FAST,
    backoff: Backoff | None = None,
    settings: DispatchSettings = SETTINGS,
) -> OutboxDispatcher:
    return OutboxDispatcher(
        database,
        sender,
        limits,
        settings=settings,
        backoff=backoff,
        clock=clock,
        rng=random.Random(7),
    )


async def row(database: Database, key: str) -> dict[str, object]:
    async with database.read() as store:
        found = await store.outbox.by_key(key)
    assert found is not None
    return found


async def add_identity(database: Database, clock: Clock, user_id: str) -> None:
    async with database.transaction() as store:
        await store.affiliates.ensure_for_identity("telegram", user_id, user_id, now=clock())


async def test_delivers_every_queued_message_once_and_records_it(
    database: Database, clock: Clock
) -> None:
    sender = RecordingSender()
    assert await queue(database, clock, *(message(str(n)) for n in range(25))) == 25
    # The same dedupe keys again, as a second firing of the same broadcast would write.
    assert await queue(database, clock, *(message(str(n)) for n in range(25))) == 0
    await dispatcher(database, sender, clock).run(until_idle=True)
    assert sorted(sender.keys) == sorted(f"test:{n}" for n in range(25))
    assert set(sender.keys.values()) == {1}
    stored = await row(database, "test:3")
    assert stored["status"] == "sent"
    assert stored["attempts"] == 1
    assert stored["sent_at"] == clock()
    assert stored["lease_until"] is None
    async with database.read() as store:
        counts = await store.outbox.counts("b1")
    assert (counts.sent, counts.queued, counts.sending) == (25, 0, 0)
    # Running again sends nothing: every row is recorded as sent.
    await dispatcher(database, sender, clock).run(until_idle=True)
    assert len(sender.delivered) == 25


async def test_payload_round_trips_to_the_sender(database: Database, clock: Clock) -> None:
    sender = RecordingSender()
    await queue(database, clock, message("42"))
    await dispatcher(database, sender, clock).run(until_idle=True)
    ((kind, target, reply, key),) = sender.delivered
    assert (kind, target, key) == ("user", "42", "test:42")
    assert reply == Reply(text="hello 42")


async def test_transient_failure_is_retried_after_backoff(
    database: Database, clock: Clock
) -> None:
    sender = RecordingSender(script={"7": [TransientFailure("HTTP 502")]})
    backoff = Backoff(base=10, cap=100, max_attempts=3)
    await queue(database, clock, message("7"))
    await dispatcher(database, sender, clock, backoff=backoff).run(until_idle=True)
    stored = await row(database, "test:7")
    assert stored["status"] == "queued"
    assert stored["attempts"] == 1
    assert "HTTP 502" in str(stored["last_error"])
    delay = stored["next_attempt_at"] - clock()  # type: ignore[operator]
    assert timedelta(seconds=5) <= delay <= timedelta(seconds=10)
    # Not due yet: nothing happens until the clock passes the retry time.
    await dispatcher(database, sender, clock, backoff=backoff).run(until_idle=True)
    assert sender.requests["7"] == 1
    clock.advance(seconds=10)
    await dispatcher(database, sender, clock, backoff=backoff).run(until_idle=True)
    stored = await row(database, "test:7")
    assert (stored["status"], stored["attempts"]) == ("sent", 2)
    assert stored["last_error"] is None


async def test_backoff_grows_exponentially_with_jitter_and_caps() -> None:
    backoff = Backoff(base=2, cap=60, max_attempts=8)
    rng = random.Random(1)
    for attempt, full in [(1, 2), (2, 4), (3, 8), (4, 16), (5, 32), (6, 60), (9, 60)]:
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        assert min(delays) >= full / 2
        assert max(delays) <= full
        assert max(delays) - min(delays) > full / 4  # jittered, not one fixed value
    assert not backoff.exhausted(7)
    assert backoff.exhausted(8)


async def test_gives_up_after_max_attempts(database: Database, clock: Clock) -> None:
    sender = RecordingSender(always={"9": TransientFailure("HTTP 500")})
    backoff = Backoff(base=1, cap=1, max_attempts=3)
    await queue(database, clock, message("9"))
    for _ in range(5):
        await dispatcher(database, sender, clock, backoff=backoff).run(until_idle=True)
        clock.advance(seconds=2)
    assert sender.requests["9"] == 3
    stored = await row(database, "test:9")
    assert stored["status"] == "failed"
    assert str(stored["last_error"]).startswith("gave up after 3 attempts")
    async with database.read() as store:
        counts = await store.outbox.counts("b1")
    assert (counts.failed, counts.unreachable) == (1, 0)


async def test_unreachable_recipient_is_parked_and_skipped_until_they_return(
    database: Database, clock: Clock
) -> None:
    await add_identity(database, clock, "66")
    sender = RecordingSender(always={"66": Unreachable("Forbidden: bot was blocked by the user")})
    await queue(database, clock, message("66", "first"), message("1", "other"))
    await dispatcher(database, sender, clock).run(until_idle=True)
    assert sender.requests["66"] == 1
    first = await row(database, "first")
    assert first["status"] == "failed"
    assert first["attempts"] == 1
    assert str(first["last_error"]) == "unreachable: Forbidden: bot was blocked by the user"
    async with database.read() as store:
        affiliate = await store.affiliates.by_identity("telegram", "66")
        assert affiliate is not None
        (identity,) = await store.affiliates.identities_of(affiliate.id)
    assert identity.unreachable_reason == "Forbidden: bot was blocked by the user"

    # The next broadcast reaches nobody who blocked the bot: no request at all.
    await queue(
        database, clock, message("66", "second", broadcast="b2"), message("2", broadcast="b2")
    )
    await dispatcher(database, sender, clock).run(until_idle=True)
    assert sender.requests["66"] == 1
    second = await row(database, "second")
    assert second["status"] == "skipped"
    assert second["attempts"] == 0
    assert str(second["last_error"]).startswith("unreachable: ")
    async with database.read() as store:
        counts = await store.outbox.counts("b2")
        latest = await store.outbox.latest_broadcast()
    assert (counts.sent, counts.skipped, counts.unreachable) == (1, 1, 1)
    assert latest is not None
    assert latest.key == "b2"

    # Talking to the bot again makes them reachable.
    async with database.transaction() as store:
        await store.affiliates.touch("telegram", "66", now=clock())
    del sender.always["66"]
    await queue(database, clock, message("66", "third", broadcast="b3"))
    await dispatcher(database, sender, clock).run(until_idle=True)
    assert (await row(database, "third"))["status"] == "sent"


async def test_rate_limit_pauses_the_platform_without_spending_an_attempt(
    database: Database, clock: Clock
) -> None:
    sender = RecordingSender(script={"0": [RetryAfter(0.3)]})
    await queue(database, clock, *(message(str(n)) for n in range(6)))
    started = time.monotonic()
    # The wall clock: the message is due again when the pause the platform asked for ends.
    await OutboxDispatcher(
        database, sender, FAST, settings=DispatchSettings(concurrency=1, poll_interval=0.05)
    ).run(until_idle=True)
    assert time.monotonic() - started >= 0.3
    assert sorted(sender.keys) == sorted(f"test:{n}" for n in range(6))
    stored = await row(database, "test:0")
    assert (stored["status"], stored["attempts"]) == ("sent", 1)


async def test_expired_lease_of_a_dead_process_is_claimed_again(
    database: Database, clock: Clock
) -> None:
    await queue(database, clock, *(message(str(n)) for n in range(3)))
    async with database.transaction() as store:
        claimed = await store.outbox.claim(
            "telegram", now=clock(), limit=2, lease=timedelta(seconds=30)
        )
    assert len(claimed) == 2  # ...and the process holding them dies here.
    sender = RecordingSender()
    await dispatcher(database, sender, clock).run(until_idle=True)
    assert len(sender.delivered) == 1  # the leased two are not touched while leased
    clock.advance(seconds=31)
    await dispatcher(database, sender, clock).run(until_idle=True)
    assert sorted(sender.keys) == ["test:0", "test:1", "test:2"]
    assert (await row(database, "test:0"))["attempts"] == 2


async def test_stop_hands_back_unsent_messages(database: Database, clock: Clock) -> None:
    sender = RecordingSender(delay=0.05)
    await queue(database, clock, *(message(str(n)) for n in range(40)))
    running = dispatcher(
        database,
        sender,
        clock,
        limits=Limits(rate=20),
        settings=DispatchSettings(concurrency=2, claim_batch=40, poll_interval=0.05),
    )
    task = asyncio.create_task(running.run())
    await asyncio.sleep(0.3)
    running.stop()
    await task
    async with database.read() as store:
        counts = await store.outbox.counts()
    assert counts.sending == 0
    assert counts.sent == len(sender.delivered)
    assert 0 < counts.sent < 40
    assert counts.queued == 40 - counts.sent
    # Handed-back rows did not spend an attempt.
    for n in range(40):
        stored = await row(database, f"test:{n}")
        assert stored["attempts"] == (1 if stored["status"] == "sent" else 0)


async def test_unreadable_payload_is_parked_not_retried(database: Database, clock: Clock) -> None:
    broken = OutgoingMessage("broken", "telegram", "user", "5", {"fields": [["only-name"]]})
    await queue(database, clock, broken)
    sender = RecordingSender()
    await dispatcher(database, sender, clock).run(until_idle=True)
    stored = await row(database, "broken")
    assert stored["status"] == "failed"
    assert str(stored["last_error"]).startswith("unreadable payload")
    assert sender.requests["5"] == 0


async def test_other_platforms_rows_are_left_alone(database: Database, clock: Clock) -> None:
    discord = OutgoingMessage("d", "discord", "user", "1", Reply(text="x").to_json())
    await queue(database, clock, discord, message("1"))
    sender = RecordingSender(platform="telegram")
    await dispatcher(database, sender, clock).run(until_idle=True)
    assert list(sender.keys) == ["test:1"]
    assert (await row(database, "d"))["status"] == "queued"


async def test_two_dispatchers_deliver_each_row_once(database: Database, clock: Clock) -> None:
    """Two dispatchers on separate connections (as two processes would be) share a backlog.

    On PostgreSQL the claims use FOR UPDATE SKIP LOCKED; on SQLite BEGIN IMMEDIATE
    serialises them. Either way no row is claimed by both.
    """
    await queue(database, clock, *(message(str(n)) for n in range(300)))
    sender = RecordingSender(delay=0.001)
    settings = DispatchSettings(concurrency=4, claim_batch=20, poll_interval=0.01)
    first = dispatcher(database, sender, clock, settings=settings)
    second = dispatcher(database, sender, clock, settings=settings)
    await asyncio.gather(first.run(until_idle=True), second.run(until_idle=True))
    assert len(sender.keys) == 300
    assert set(sender.keys.values()) == {1}
    assert first.counters.sent > 0
    assert second.counters.sent > 0
    async with database.read() as store:
        counts = await store.outbox.counts()
    assert counts.sent == 300


async def test_claims_no_more_than_the_lease_lets_it_send(
    database: Database, clock: Clock
) -> None:
    """At 100 msg/s with 0.3 s of usable lease, claiming 100 rows would leave most of
    them to expire unsent; the claim is sized so every claimed row goes out in time."""
    await queue(database, clock, *(message(str(n)) for n in range(60)))
    sender = RecordingSender()
    running = OutboxDispatcher(
        database,
        sender,
        Limits(rate=100),
        settings=DispatchSettings(
            concurrency=4,
            lease=timedelta(seconds=0.4),
            lease_margin=timedelta(seconds=0.1),
            poll_interval=0.01,
        ),
    )
    await running.run(until_idle=True)
    assert len(sender.keys) == 60
    assert running.counters.claimed == 60  # nothing handed back and claimed again


async def test_a_broadcast_to_many_unreachable_users_is_skipped_at_claim_speed(
    database: Database, clock: Clock
) -> None:
    async with database.transaction() as store:
        for n in range(50):
            await store.affiliates.ensure_for_identity("telegram", f"u{n}", "x", now=clock())
        # Every one of them blocked the bot during an earlier broadcast.
        await store.connection.execute(
            update(identities).values(unreachable_reason="blocked", unreachable_at=clock())
        )
    await queue(database, clock, *(message(f"u{n}") for n in range(50)), message("ok"))
    sender = RecordingSender()
    started = time.monotonic()
    await dispatcher(
        database,
        sender,
        clock,
        settings=DispatchSettings(concurrency=2, claim_batch=10, poll_interval=5),
    ).run(until_idle=True)
    assert time.monotonic() - started < 2  # claims follow each other, no poll waits
    assert list(sender.keys) == ["test:ok"]
    async with database.read() as store:
        counts = await store.outbox.counts("b1")
    assert (counts.skipped, counts.unreachable, counts.sent) == (50, 50, 1)
