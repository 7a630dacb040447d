"""Membership decisions, suspensions and the <who> resolver."""

from __future__ import annotations

import pytest

from commands.core.dispatcher import Dispatcher
from commands.core.errors import NotFound, Refused
from commands.core.invocation import Actor, ChatKind
from commands.core.who import resolve
from storage import Database
from tests.conftest import Chat
from tests.core_seed import console


async def outbox_rows(database: Database) -> list[tuple[str, str, str, str]]:
    async with database.read() as store:
        result = await store.connection.exec_driver_sql(
            "SELECT dedupe_key, platform, target_kind, target_id FROM outbox ORDER BY id"
        )
        return [tuple(row) for row in result]


async def test_approve_and_reject_tell_the_affiliate_privately(
    dispatcher: Dispatcher, manager: Chat, alice: Chat, bob: Chat, database: Database
) -> None:
    await manager("/program add shop https://shop.example/ 10% --approval")
    await manager("/program add app https://app.example/ 5 USD --approval")
    await alice("/join shop")
    await alice("/join app")
    await bob("/join shop")
    listing = await manager("/affiliates pending")
    assert listing.private
    assert listing.table is not None
    assert [row[1:3] for row in listing.table.rows] == [
        ("Alice", "shop"),
        ("Alice", "app"),
        ("Bob", "shop"),
    ]
    reply = await manager("/approve alice shop")
    assert reply.text == "Approved #1 Alice for shop. They are told privately."
    reply = await manager("/reject @bob")
    assert reply.text == "Declined #2 Bob for shop. They are told privately."
    assert (await alice("/link shop")).title == "Your link for shop"
    assert "links come once you are approved" in (await alice("/link app")).text
    rows = await outbox_rows(database)
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("console", "user", "alice"),
        ("console", "user", "bob"),
    ]
    async with database.read() as store:
        message = await store.outbox.by_key(rows[0][0])
        audit = await store.audit.recent()
    assert message is not None
    assert message["payload"]["title"] == "Welcome to shop"
    assert message["payload"]["visibility"] == "private"
    assert [(a.action, a.before, a.after) for a in reversed(audit)][-2:] == [
        (
            "membership.approve",
            {"program": "shop", "status": "pending"},
            {"program": "shop", "status": "approved"},
        ),
        (
            "membership.reject",
            {"program": "shop", "status": "pending"},
            {"program": "shop", "status": "rejected"},
        ),
    ]
    # A rejected request can still be approved later; approving everything waiting.
    assert (await manager("/approve bob")).text.startswith("Approved #2 Bob for shop")
    assert (await manager("/approve alice")).text.startswith("Approved #1 Alice for app")
    assert (await manager("/affiliates pending")).text == "No join requests are waiting."


async def test_suspend_and_reinstate(manager: Chat, alice: Chat, database: Database) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await alice("/join shop")
    reply = await manager("/suspend alice posting on coupon sites")
    assert reply.text == "Suspended #1 Alice. They are told privately."
    listing = await manager("/affiliates suspended")
    assert listing.table is not None
    assert listing.table.rows == (("#1", "Alice", "", "suspended", "shop", "console"),)
    assert (await manager("/suspend #1")).text == "#1 Alice is already suspended."
    assert (await manager("/reinstate console:alice")).text == (
        "Reinstated #1 Alice. They are told privately."
    )
    keys = [row[0] for row in await outbox_rows(database)]
    async with database.read() as store:
        audit = await store.audit.recent(2)
        first = await store.outbox.by_key(keys[0])
        second = await store.outbox.by_key(keys[1])
    assert [entry.action for entry in audit] == ["affiliate.reinstate", "affiliate.suspend"]
    assert audit[1].after == {"status": "suspended", "reason": "posting on coupon sites"}
    assert first is not None
    assert second is not None
    assert "Reason: posting on coupon sites" in first["payload"]["text"]
    assert second["payload"]["title"] == "Your affiliate account is active again"


async def test_affiliates_listing_through_the_console(
    dispatcher: Dispatcher, manager: Chat
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await console(dispatcher, "/join shop\n/settings alias Ace\n", user="ann")
    out = await console(dispatcher, "/affiliates\n/affiliates active\n", user="boss", manager=True)
    assert "#1  ann   Ace    active  shop      console" in out
    assert "(private: only you can see this)" in out
    assert "No affiliates (suspended)." in await console(
        dispatcher, "/affiliates suspended\n", user="boss", manager=True
    )


async def test_who_resolves_every_documented_form(
    dispatcher: Dispatcher, manager: Chat, database: Database
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    people = {
        "discord": Actor("discord", "81234567890", "Ann"),
        "telegram": Actor("telegram", "4242", "Ann"),
        "console": Actor("console", "carl", "Carl"),
    }
    for actor in people.values():
        await dispatcher.execute_line("/join shop", actor, ChatKind.PRIVATE)
    await dispatcher.execute_line("/settings alias Carlito", people["console"], ChatKind.PRIVATE)
    async with database.read() as store:
        ids = {
            name: (await store.affiliates.by_identity(a.platform, a.user_id)).id  # type: ignore[union-attr]
            for name, a in people.items()
        }

        async def who(text: str, platform: str = "console") -> int:
            return (await resolve(store, text, platform=platform)).id

        assert await who("<@81234567890>") == ids["discord"]
        assert await who("<@!81234567890>") == ids["discord"]
        assert await who("telegram:4242") == ids["telegram"]
        assert await who(f"#{ids['console']}") == ids["console"]
        assert await who("@carl") == ids["console"]
        assert await who("carlito") == ids["console"]
        assert await who("Carl") == ids["console"]
        assert await who("4242") == ids["telegram"]
        assert await who("81234567890", platform="discord") == ids["discord"]
        with pytest.raises(Refused, match="Several affiliates match 'Ann'"):
            await who("Ann")
        with pytest.raises(NotFound):
            await who("#999")
        with pytest.raises(NotFound):
            await who("slack:1")
