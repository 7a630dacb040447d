"""Caps end to end: /cap commands, over-cap conversions, fallback clicks, alert events."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from commands.core.invocation import Services
from storage import Database
from tests.conftest import Chat, Clock
from tests.tracking_support import running, seed
from tests.web.test_postback_rules import post


async def sale(client: TestClient[Any, Any], code: str, txn: str, amount: str = "100") -> Any:
    status, body = await post(client, code=code, txn_id=txn, amount=amount)
    assert status == 200, body
    return body


async def redirect_location(client: TestClient[Any, Any], code: str) -> tuple[int, str]:
    response = await client.get(f"/r/{code}", allow_redirects=False)
    return response.status, response.headers.get("Location", "")


async def test_hard_cap_marks_over_cap_and_sends_clicks_to_fallback(
    services: Services, database: Database, manager: Chat
) -> None:
    seeded = await seed(database, fallback="https://shop.example/full")
    reply = await manager("/cap set shop 3 month conversions fallback")
    assert "3 conversions per month" in reply.text
    async with running(services) as client:
        bodies = [await sale(client, seeded.link.code, f"T{index}") for index in range(5)]
        status, location = await redirect_location(client, seeded.link.code)
    assert [body["over_cap"] for body in bodies] == [False, False, False, True, True]
    assert [body["commissionable"] for body in bodies] == [True, True, True, False, False]
    assert (status, location) == (302, "https://shop.example/full")
    async with database.read() as store:
        assert await store.conversions.count() == 5  # recorded, never dropped
        events = await store.caps.events(program_id=seeded.program.id)
    assert [(event.threshold, event.usage_value) for event in events] == [(90, 3), (100, 3)]


async def test_notify_cap_only_alerts_once_per_threshold_and_period(
    services: Services, database: Database, manager: Chat, clock: Clock
) -> None:
    seeded = await seed(database)
    await manager("/cap set shop 10 day")
    async with running(services) as client:
        bodies = [await sale(client, seeded.link.code, f"N{index}") for index in range(12)]
        status, location = await redirect_location(client, seeded.link.code)
        assert (status, location.startswith("https://shop.example/landing")) == (302, True)
        clock.advance(days=1)
        for index in range(9):
            await sale(client, seeded.link.code, f"D{index}")
    assert not any(body["over_cap"] for body in bodies)
    async with database.read() as store:
        events = await store.caps.events()
    keyed = [(event.period_key, event.threshold, event.usage_value) for event in events]
    assert keyed == [("2026-11-18", 90, 9), ("2026-11-18", 100, 10), ("2026-11-19", 90, 9)]


async def test_per_affiliate_pause_cap_only_stops_that_affiliate(
    services: Services, database: Database, manager: Chat
) -> None:
    alice = await seed(database, user="alice")
    bob = await seed(database, user="bob")
    await manager("/cap set shop 2 week conversions pause --per-affiliate --alerts 100")
    async with running(services) as client:
        for index in range(3):
            await sale(client, alice.link.code, f"A{index}")
        bob_body = await sale(client, bob.link.code, "B0")
        alice_status, _ = await redirect_location(client, alice.link.code)
        bob_status, _ = await redirect_location(client, bob.link.code)
    assert bob_body["over_cap"] is False
    assert (alice_status, bob_status) == (410, 302)  # paused without a fallback URL
    async with database.read() as store:
        events = await store.caps.events()
    assert [(event.affiliate_id, event.threshold) for event in events] == [
        (alice.affiliate.id, 100)
    ]


async def test_commission_cap_and_cap_off(
    services: Services, database: Database, manager: Chat
) -> None:
    seeded = await seed(database, fallback="https://shop.example/full")
    reply = await manager("/cap set shop 25.00 all commission fallback")
    assert "25.00 USD commission in all" in reply.text
    async with running(services) as client:
        first = await sale(client, seeded.link.code, "C1", "200")  # 20.00 commission
        second = await sale(client, seeded.link.code, "C2", "100")  # would make 30.00
        third = await sale(client, seeded.link.code, "C3", "50")  # 25.00 exactly: allowed
        assert (first["over_cap"], second["over_cap"], third["over_cap"]) == (False, True, False)
        assert (await redirect_location(client, seeded.link.code))[
            1
        ] == "https://shop.example/full"
        listing = await manager("/cap list shop")
        assert listing.table is not None
        assert listing.table.rows[0][2] == "25.00 USD"
        await manager("/cap off shop")
        _, location = await redirect_location(client, seeded.link.code)
        assert location.startswith("https://shop.example/landing")
        after = await sale(client, seeded.link.code, "C4", "100")
    assert after["over_cap"] is False
    async with database.read() as store:
        balances = await store.conversions.balances(seeded.affiliate.id)
    assert balances == {"USD": 0}  # all still pending


async def test_cap_commands_refuse_bad_input_and_write_nothing(
    database: Database, manager: Chat, alice: Chat
) -> None:
    await seed(database)
    for line, expected in [
        ("/cap set shop 0 month", "above zero"),
        ("/cap set shop ten month", "whole number"),
        ("/cap set shop 5 year", "period must be one of"),
        ("/cap set shop 5 month commission fallback", "no fallback URL"),
        ("/cap set shop 1.001 month commission", "amount in USD"),
        ("/cap set shop 5 month --alerts 0,100", "between 1 and 100"),
        ("/cap set nope 5 month", 'no program called "nope"'),
        ("/cap off shop", "no cap in force"),
    ]:
        reply = await manager(line)
        assert expected.lower() in reply.text.lower(), (line, reply.text)
    assert "managers only" in (await alice("/cap set shop 5 month")).text
    async with database.read() as store:
        program = await store.programs.by_slug("shop")
        assert program is not None
        assert await store.caps.active(program.id) == []


async def test_concurrent_conversions_never_exceed_a_hard_cap(
    services: Services, database: Database, manager: Chat
) -> None:
    seeded = await seed(database, fallback="https://shop.example/full")
    await manager("/cap set shop 4 month conversions fallback")
    async with running(services) as client:
        bodies = await asyncio.gather(
            *(sale(client, seeded.link.code, f"R{index}") for index in range(12))
        )
    assert sum(1 for body in bodies if not body["over_cap"]) == 4
    async with database.read() as store:
        assert len(await store.caps.events()) == 2


async def test_cap_events_wait_for_the_delivery_side(
    services: Services, database: Database, manager: Chat, clock: Clock
) -> None:
    seeded = await seed(database)
    await manager("/cap set shop 2 all --alerts 50,100")
    async with running(services) as client:
        await sale(client, seeded.link.code, "E1")
        await sale(client, seeded.link.code, "E2")
    async with database.transaction() as store:
        waiting = await store.caps.unnotified_events()
        assert [event.threshold for _, event in waiting] == [50, 100]
        await store.caps.mark_notified([event_id for event_id, _ in waiting], now=clock.now)
    async with database.read() as store:
        assert await store.caps.unnotified_events() == []
        assert all(event.notified_at == clock.now for event in await store.caps.events())
