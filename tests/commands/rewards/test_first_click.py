"""The first-click badge: awarded once, by one statement per written batch of clicks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from bot.web.click_batches import click_row
from bot.web.click_buffer import ClickBuffer
from bot.web.metrics import Metrics
from storage import Database
from storage.clicks import NewClick, new_click, new_click_id
from tests.tracking_support import Seeded, seed

NOON = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


def visit(seeded: Seeded, at: datetime) -> NewClick:
    return new_click(
        click_id=new_click_id(),
        link_id=seeded.link.id,
        occurred_at=at,
        ip_hash="h",
        user_agent_family="chrome",
        referer_host=None,
    )


async def write(database: Database, clicks: list[NewClick]) -> list[str]:
    """Flush ``clicks`` as one batch; returns the badge INSERT statements it ran."""
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT") and "reward_badges" in statement:
            statements.append(statement)

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        buffer = ClickBuffer(database, batch_size=1000, flush_seconds=60, metrics=Metrics())
        for one in clicks:
            buffer.add(click_row(one))
        assert await buffer.flush()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return statements


async def test_first_click_badge_once_per_affiliate_with_one_statement_per_batch(
    database: Database,
) -> None:
    alice = await seed(database)
    bob = await seed(database, user="bob")
    batch = [visit(alice, NOON) for _ in range(3)] + [visit(bob, NOON) for _ in range(2)]
    statements = await write(database, batch)
    assert len(statements) == 1  # set-based: one INSERT … SELECT for the whole batch
    async with database.read() as store:
        alice_badges = await store.rewards.badges(alice.affiliate.id)
        bob_badges = await store.rewards.badges(bob.affiliate.id)
        note = await store.outbox.by_key(
            f"badge:{alice.affiliate.id}:first-click:console:user:alice"
        )
    assert [(b.badge, b.awarded_at) for b in alice_badges] == [("first-click", NOON)]
    assert [b.badge for b in bob_badges] == ["first-click"]
    assert note is not None
    assert note["payload"]["title"] == "New badge!"
    assert "first-click" in note["payload"]["text"]
    # Later batches award nothing again, and tell nobody again.
    later = NOON + timedelta(hours=1)
    assert len(await write(database, [visit(alice, later), visit(bob, later)])) == 1
    async with database.transaction() as store:
        again = await store.rewards.badges(alice.affiliate.id)
        assert (
            await store.rewards.award_to_link_owners([alice.link.id], "first-click", "x", at=later)
            == []
        )
    assert [(b.badge, b.awarded_at) for b in again] == [("first-click", NOON)]


async def test_an_empty_batch_awards_nothing(database: Database) -> None:
    async with database.transaction() as store:
        assert await store.rewards.award_to_link_owners([], "first-click", "x", at=NOON) == []


async def test_one_buffer_skips_links_it_already_settled(database: Database) -> None:
    """A busy link must not cost a badge transaction on every batch it gets."""
    alice = await seed(database)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT") and "reward_badges" in statement:
            statements.append(statement)

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        buffer = ClickBuffer(database, batch_size=1000, flush_seconds=60, metrics=Metrics())
        buffer.add(click_row(visit(alice, NOON)))
        assert await buffer.flush()
        assert len(statements) == 1
        for _ in range(3):  # the same link again: settled, no statement
            buffer.add(click_row(visit(alice, NOON)))
            assert await buffer.flush()
        assert len(statements) == 1
        bob = await seed(database, user="bob")  # a link this buffer has not seen yet
        buffer.add(click_row(visit(alice, NOON)))
        buffer.add(click_row(visit(bob, NOON)))
        assert await buffer.flush()
        assert len(statements) == 2
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    async with database.read() as store:
        assert [b.badge for b in await store.rewards.badges(bob.affiliate.id)] == ["first-click"]
