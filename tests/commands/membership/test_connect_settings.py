"""/connect across platforms and /settings validation."""

from __future__ import annotations

import re
from datetime import timedelta

from commands.core.dispatcher import Dispatcher
from commands.core.invocation import Actor, ChatKind
from commands.core.reply import Reply
from storage import Database
from tests.conftest import Chat, Clock
from tests.core_seed import add_clicks, add_conversion, console

TELEGRAM = Actor("telegram", "4242", "Alice T")


async def run(dispatcher: Dispatcher, actor: Actor, line: str) -> Reply:
    replies = await dispatcher.execute_line(line, actor, ChatKind.PRIVATE)
    assert len(replies) == 1
    return replies[0]


def code_of(reply: Reply) -> str:
    match = re.search(r"/connect ([A-Z0-9]{8})", reply.text)
    assert match, reply.text
    return match.group(1)


async def test_connect_attaches_a_new_account(
    dispatcher: Dispatcher, manager: Chat, alice: Chat, database: Database
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await alice("/join shop")
    issued = await alice("/connect")
    assert issued.private
    reply = await run(dispatcher, TELEGRAM, f"/connect {code_of(issued).lower()}")
    assert reply.title == "Accounts connected"
    assert "(console, telegram)" in reply.text
    async with database.read() as store:
        first = await store.affiliates.by_identity("console", "alice")
        second = await store.affiliates.by_identity("telegram", "4242")
    assert first is not None
    assert second is not None
    assert first.id == second.id
    # The code is single use.
    again = await run(dispatcher, Actor("discord", "77", "A"), f"/connect {code_of(issued)}")
    assert "not valid" in again.text
    # Private notes now reach the affiliate on both platforms.
    await manager("/suspend telegram:4242 testing")
    async with database.read() as store:
        rows = await store.connection.exec_driver_sql(
            "SELECT platform, target_kind, target_id FROM outbox ORDER BY id"
        )
        # tuple(row): SQLAlchemy 2.1 types a row of driver SQL as a 1-tuple.
        targets = [(row[0], row[1], str(row[2])) for row in map(tuple, rows)]
    assert targets == [("console", "user", "alice"), ("telegram", "user", "4242")]


async def test_connect_merges_two_affiliates_and_their_stats(
    dispatcher: Dispatcher, manager: Chat, alice: Chat, database: Database, clock: Clock
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await alice("/join shop")
    await run(dispatcher, TELEGRAM, "/join shop")
    await add_clicks(database, "alice", "shop", 3, clock.now - timedelta(hours=1))
    await add_conversion(database, "alice", "shop", at=clock.now - timedelta(hours=1))
    async with database.writing() as connection:
        await connection.exec_driver_sql(
            "UPDATE conversions SET affiliate_id = "
            "(SELECT affiliate_id FROM identities WHERE platform = 'telegram')"
        )
    await run(dispatcher, TELEGRAM, "/link shop")
    await alice("/connect")  # an older code is replaced by the next one
    issued = await alice("/connect")
    await run(dispatcher, TELEGRAM, f"/connect {code_of(issued)}")
    stats = await alice("/stats")
    assert stats.table is not None
    assert stats.table.rows[0][:3] == ("shop", "3", "1")
    async with database.read() as store:
        affiliates = await store.affiliates.all_affiliates()
        assert len(affiliates) == 1
        links = await store.links.of_affiliate(affiliates[0].id)
    assert sorted(link.campaign for link in links) == ["", f"default-merged{2}"]
    audit = await _audit_actions(database)
    assert "affiliate.connect" in audit


async def test_connect_refusals(
    dispatcher: Dispatcher, manager: Chat, alice: Chat, clock: Clock
) -> None:
    assert "Join a program first" in (await alice("/connect")).text
    await manager("/program add shop https://shop.example/ 10%")
    await alice("/join shop")
    issued = await alice("/connect")
    assert "already connected" in (await alice(f"/connect {code_of(issued)}")).text
    clock.advance(minutes=11)
    assert "not valid" in (await run(dispatcher, TELEGRAM, f"/connect {code_of(issued)}")).text
    bad = await alice("/connect 12")
    assert bad.text.startswith("'12' is not a connect code")
    assert "Usage: /connect [code]" in bad.text


async def test_suspension_survives_a_merge(
    dispatcher: Dispatcher, manager: Chat, alice: Chat, database: Database
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await alice("/join shop")
    await manager("/suspend alice fraud")
    await run(dispatcher, TELEGRAM, "/join shop")
    issued = await run(dispatcher, TELEGRAM, "/connect")
    await alice(f"/connect {code_of(issued)}")
    async with database.read() as store:
        merged = await store.affiliates.by_identity("telegram", "4242")
    assert merged is not None
    assert merged.status == "suspended"
    assert merged.suspended_reason == "fraud"


async def test_settings_change_and_show(dispatcher: Dispatcher, manager: Chat) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    out = await console(
        dispatcher,
        "/join shop\n/settings visibility hidden\n/settings alias Deal Hunter\n"
        "/settings feedback off\n/settings timezone Europe/Berlin\n/settings\n"
        "/settings alias\n/settings alias none\n/settings alias\n",
        user="alice",
    )
    assert "Your leaderboard visibility is now hidden." in out
    assert "Your alias is now Deal Hunter." in out
    assert "Your feedback is now off." in out
    assert "Your time zone is now Europe/Berlin." in out
    assert "visibility: hidden\nalias: Deal Hunter\nfeedback: off\ntimezone: Europe/Berlin" in out
    assert "Your alias is now none." in out
    assert out.rstrip().endswith(
        "alias: none\n(Change one with /settings <key> <value>.)\n"
        "(private: only you can see this)".rstrip()
    )


BAD_SETTINGS = [
    ("/settings alias " + "x" * 5000, "Value is too long (5000 characters, at most 64)."),
    ("/settings alias bad\x1bname", "Value contains control characters."),
    ("/settings alias 1234", "An alias is 2-32 letters, digits, spaces, _ . or -"),
    ("/settings alias @boss", "An alias is 2-32 letters"),
    ("/settings visibility loud", "Visibility must be one of: public, alias, hidden."),
    ("/settings feedback daily", "Feedback must be one of: weekly, off."),
    ("/settings timezone Mars/Base", "'Mars/Base' is not a time zone"),
    (
        "/settings colour blue",
        "Key must be one of: visibility, alias, feedback, timezone, notices.",
    ),
]


async def test_settings_reject_bad_values_and_write_nothing(
    manager: Chat, alice: Chat, database: Database
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await alice("/join shop")
    for line, problem in BAD_SETTINGS:
        reply = await alice(line)
        assert problem in reply.text, (line, reply.text)
        assert "Usage: /settings" in reply.text
    async with database.read() as store:
        affiliate = await store.affiliates.by_identity("console", "alice")
    assert affiliate is not None
    assert (affiliate.alias, affiliate.visibility, affiliate.feedback, affiliate.timezone) == (
        None,
        "public",
        "weekly",
        None,
    )


async def test_alias_must_be_unique_regardless_of_case(
    manager: Chat, alice: Chat, bob: Chat
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await alice("/join shop")
    await bob("/join shop")
    assert (await alice("/settings alias Hunter")).text == "Your alias is now Hunter."
    assert (await bob("/settings alias hunter")).text == (
        "The alias hunter is taken; choose another."
    )
    assert (await alice("/settings alias HUNTER")).text == "Your alias is now HUNTER."


async def _audit_actions(database: Database) -> list[str]:
    async with database.read() as store:
        return [entry.action for entry in await store.audit.recent()]
