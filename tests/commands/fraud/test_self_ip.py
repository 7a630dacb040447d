"""Customer IPs on postbacks and imports (hashed at the edge, never stored raw) and the
rules that use them: ``self-ip`` (the customer is at an address the affiliate checked
their own link from) and ``shared-customer-ip`` (many customers behind one address)."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.importer import import_conversions
from bot.web.state import TRACKING
from commands.core.invocation import Services
from commands.fraud.rules import FraudRules
from commands.tracking.conversions import TrackingRules
from commands.tracking.ip_hashes import check_token, hash_address, instance_salt
from storage import Database
from storage.conversions import Conversion
from storage.fraud import Flag
from storage.schema import metadata
from tests.conftest import Chat, Clock
from tests.tracking_support import Seeded, TrackingClient, running, seed
from tests.web.test_link_check import FORWARDED, visit

# Sales here are attributed by code without a click; that rule has its own tests.
RULES = FraudRules(flag_without_click=False, alert_targets=(("telegram", "900", "user"),))
CUSTOMER = "198.51.100.23"


def postback(**fields: Any) -> str:
    return "/postback?" + urlencode({"token": "s3cret", **fields})


async def send(client: TestClient[Any, Any], **fields: Any) -> tuple[int, dict[str, Any]]:
    response = await client.get(postback(**fields))
    return response.status, await response.json()


async def check_page(client: TrackingClient, seeded: Seeded, address: str) -> None:
    """The affiliate opens their own link's check page from ``address``."""
    salt = client.app[TRACKING].salt
    path = f"/r/{seeded.link.code}/check?t={check_token(salt, seeded.link.code)}"
    assert (await visit(client, path, address=address)).status == 200


async def conversion(database: Database, seeded: Seeded, txn_id: str) -> Conversion:
    async with database.read() as store:
        found = await store.conversions.by_txn(seeded.program.id, txn_id)
    assert found is not None
    return found


async def open_flags(database: Database) -> list[Flag]:
    async with database.read() as store:
        return await store.fraud.open_flags(since=None, program_id=None)


async def every_stored_value(database: Database) -> str:
    """Every row of every table as text, to prove an address is nowhere in the database."""
    parts: list[str] = []
    async with database.read() as store:
        for table in metadata.sorted_tables:
            rows = await store.connection.execute(select(table))
            parts.extend(repr(tuple(row)) for row in rows)
    return "\n".join(parts)


async def test_customer_ip_is_validated_and_stored_only_as_a_salted_hash(
    services: Services, database: Database, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    caplog.set_level(logging.DEBUG, logger="commands")
    seeded = await seed(database)
    code = seeded.link.code
    async with running(services) as client:
        sent = [
            ("A-1", "customer_ip", CUSTOMER),
            ("A-2", "ip", "2001:DB8:0:0::7"),
            ("A-3", "client_ip", "::ffff:203.0.113.9"),  # IPv4 written as IPv6-mapped
            ("A-4", "customer_ip_address", " 192.0.2.44 "),
        ]
        for txn, name, address in sent:
            status, body = await send(client, code=code, txn_id=txn, amount="5", **{name: address})
            assert status == 200, body
        for bad in ("300.1.2.3", "not-an-ip", "203.0.113.0/24", "1.2.3"):
            status, body = await send(client, code=code, txn_id="BAD", amount="5", ip=bad)
            assert status == 400
            assert body["field"] == "customer_ip"
            assert bad not in body["error"]
        salt = client.app[TRACKING].salt
    assert salt == await instance_salt(database, None, now=clock())
    expected = {
        "A-1": CUSTOMER,
        "A-2": "2001:db8::7",
        "A-3": "203.0.113.9",
        "A-4": "192.0.2.44",
    }
    for txn, address in expected.items():
        stored = await conversion(database, seeded, txn)
        assert stored.customer_ip_hash == hash_address(salt, address)
    async with database.read() as store:
        assert await store.conversions.by_txn(seeded.program.id, "BAD") is None
    dump = await every_stored_value(database)
    for raw in (CUSTOMER, "2001:DB8", "2001:db8", "203.0.113.9", "192.0.2.44", "300.1.2.3"):
        assert raw not in dump
        assert raw not in caplog.text


async def test_a_programs_field_map_names_the_customer_ip_too(
    services: Services, database: Database, manager: Chat
) -> None:
    seeded = await seed(database)
    reply = await manager("/program set shop field customer_ip=buyer_addr")
    assert "customer_ip is read from 'buyer_addr'" in reply.text
    async with running(services) as client:
        status, _ = await send(
            client, code=seeded.link.code, txn_id="M-1", amount="5", buyer_addr=CUSTOMER
        )
        assert status == 200
        status, body = await send(
            client, code=seeded.link.code, txn_id="M-2", amount="5", buyer_addr="nope"
        )
        assert (status, body["field"]) == (400, "customer_ip")
        salt = client.app[TRACKING].salt
    stored = await conversion(database, seeded, "M-1")
    assert stored.customer_ip_hash == hash_address(salt, CUSTOMER)


async def test_import_hashes_customer_ips_with_the_servers_salt(
    database: Database, clock: Clock, tmp_path: Path
) -> None:
    seeded = await seed(database)
    path = tmp_path / "export.csv"
    path.write_text(
        "order_id,ref,sale_amount,user_ip\n"
        f"I-1,{seeded.link.code},10.00,{CUSTOMER}\n"
        f"I-2,{seeded.link.code},10.00,999.0.0.1\n"
        f"I-3,{seeded.link.code},10.00,\n",
        encoding="utf-8",
    )
    summary = await import_conversions(
        database, path, program="shop", rules=TrackingRules(), clock=clock
    )
    assert summary.inserted == 2
    assert summary.rejected == [(3, "customer_ip: customer_ip is not an IPv4 or IPv6 address")]
    salt = await instance_salt(database, None, now=clock())  # what the server would use
    assert (await conversion(database, seeded, "I-1")).customer_ip_hash == hash_address(
        salt, CUSTOMER
    )
    assert (await conversion(database, seeded, "I-3")).customer_ip_hash is None
    # A configured salt wins, as it does for the tracking server.
    path.write_text(f"order_id,ref,sale_amount,ip\nI-4,{seeded.link.code},1,{CUSTOMER}\n")
    await import_conversions(
        database, path, program="shop", rules=TrackingRules(), clock=clock, ip_hash_salt="pep"
    )
    assert (await conversion(database, seeded, "I-4")).customer_ip_hash == hash_address(
        "pep", CUSTOMER
    )
    assert CUSTOMER not in await every_stored_value(database)


async def test_self_ip_by_customer_ip_and_by_click(
    services: Services, database: Database, clock: Clock
) -> None:
    seeded = await seed(database)
    code = seeded.link.code
    async with running(services, FORWARDED, RULES) as client:
        await check_page(client, seeded, "203.0.113.50")
        # The network reports the customer's address: the affiliate's own.
        status, _ = await send(
            client, code=code, txn_id="S-1", amount="20", customer_ip="203.0.113.50"
        )
        assert status == 200
        # No customer IP: the click the sale came through was from the affiliate's address.
        clicked = await client.get(
            f"/r/{code}",
            headers={"X-Forwarded-For": "203.0.113.50", "User-Agent": "Mozilla/5.0 Firefox/1"},
            allow_redirects=False,
        )
        click_id = clicked.headers["Location"].split("click_id=")[1].split("&")[0]
        clock.advance(minutes=5)
        assert (await send(client, click_id=click_id, txn_id="S-2", amount="20"))[0] == 200
        # A customer elsewhere is a customer.
        status, _ = await send(client, code=code, txn_id="S-3", amount="20", ip="192.0.2.1")
        assert status == 200
        salt = client.app[TRACKING].salt
    # Both sales are the affiliate's own: one open flag for the rule and affiliate, seen
    # twice (by the customer IP, then by the click), naming both conversions.
    [flag] = [flag for flag in await open_flags(database) if flag.rule == "self-ip"]
    own = hash_address(salt, "203.0.113.50")
    assert flag.evidence["txn_id"] == "S-1"
    assert flag.evidence["source"] == "customer ip"
    assert (flag.occurrences, flag.first_seen_at, flag.seen_at) == (
        2,
        clock() - timedelta(minutes=5),
        clock(),
    )
    assert flag.affiliate_id == seeded.affiliate.id
    assert flag.evidence["visitor_hash"] == own[:16]
    assert flag.evidence["affiliate_seen_at"].startswith("2026-11-18T12:00")
    assert "203.0.113" not in repr(flag.evidence)
    async with database.read() as store:
        assert await store.outbox.by_key(f"fraud:{flag.id}:telegram:user:900") is not None
        assert await store.outbox.by_key(f"fraud:{flag.id + 1}:telegram:user:900") is None
        first = await conversion(database, seeded, "S-1")
        second = await conversion(database, seeded, "S-2")
        assert await store.fraud.conversions_of(flag.id) == [(first.id, False), (second.id, False)]
        assert len(await store.fraud.keys_of(flag.id)) == 2


async def test_self_ip_only_within_the_window_and_off_at_zero(
    services: Services, database: Database, clock: Clock
) -> None:
    seeded = await seed(database)
    code = seeded.link.code
    async with running(services, FORWARDED, RULES) as client:
        await check_page(client, seeded, CUSTOMER)
        clock.advance(days=31)  # seen 31 days ago, never since
        await send(client, code=code, txn_id="W-1", amount="5", customer_ip=CUSTOMER)
    assert [flag.rule for flag in await open_flags(database)] == []
    off = FraudRules(self_ip_days=0, flag_without_click=False)
    async with running(services, FORWARDED, off) as client:
        await check_page(client, seeded, CUSTOMER)  # seen again just now
        await send(client, code=code, txn_id="W-2", amount="5", customer_ip=CUSTOMER)
    assert [flag.rule for flag in await open_flags(database)] == []
    async with running(services, FORWARDED, RULES) as client:
        clock.advance(days=29)  # 29 days after the last sighting: still within 30
        await send(client, code=code, txn_id="W-3", amount="5", customer_ip=CUSTOMER)
    assert [flag.evidence["txn_id"] for flag in await open_flags(database)] == ["W-3"]


async def test_another_affiliates_address_is_not_self_referral(
    services: Services, database: Database
) -> None:
    alice = await seed(database)
    bob = await seed(database, user="bob")
    async with running(services, FORWARDED, RULES) as client:
        await check_page(client, bob, CUSTOMER)  # bob's device, alice's customer
        await send(client, code=alice.link.code, txn_id="O-1", amount="5", ip=CUSTOMER)
    assert await open_flags(database) == []


async def test_a_held_program_keeps_self_ip_conversions_pending(
    services: Services, database: Database, manager: Chat
) -> None:
    seeded = await seed(database)
    assert "now held" in (await manager("/fraud hold shop on")).text
    fields = {"code": seeded.link.code, "txn_id": "H-1", "amount": "30", "status": "approved"}
    async with running(services, FORWARDED, RULES) as client:
        await check_page(client, seeded, CUSTOMER)
        status, body = await send(client, customer_ip=CUSTOMER, **fields)
        assert (status, body["status"], body["commissionable"]) == (200, "pending", True)
        # The network cannot approve it behind the manager's back.
        status, body = await send(client, customer_ip=CUSTOMER, **fields)
        assert (status, body["field"]) == (409, "status")
    [flag] = await open_flags(database)
    assert flag.rule == "self-ip"
    held = await conversion(database, seeded, "H-1")
    async with database.read() as store:
        assert await store.fraud.conversions_of(flag.id) == [(held.id, True)]
    listing = await manager("/fraud")
    assert listing.table is not None
    [row] = listing.table.rows
    assert row[2] == "self-ip"
    assert row[5] == "once"
    assert "checked their own link from" in row[6]
    assert "reject" in (await manager(f"/fraud review {flag.id} reject")).text.lower()
    assert (await conversion(database, seeded, "H-1")).status == "reversed"


async def test_many_customers_behind_one_address_are_flagged_once_per_day(
    services: Services, database: Database, manager: Chat
) -> None:
    seeded = await seed(database)
    other = await seed(database, user="bob")
    rules = replace(RULES, customers_per_ip=3)
    async with running(services, FORWARDED, rules) as client:

        async def sale(who: Seeded, txn: str, customer: str, address: str = CUSTOMER) -> None:
            status, body = await send(
                client,
                code=who.link.code,
                txn_id=txn,
                amount="10",
                customer_id=customer,
                customer_ip=address,
            )
            assert status == 200, body

        await sale(seeded, "C-1", "cust-1")
        await sale(seeded, "C-2", "cust-1")  # the same customer again: still one
        await sale(seeded, "C-3", "cust-2")
        await sale(other, "C-4", "cust-9")  # another affiliate's customer: not counted
        await sale(seeded, "C-5", "cust-3", address="192.0.2.8")  # another address
        assert await open_flags(database) == []
        await sale(seeded, "C-6", "cust-3")  # the third distinct customer at one address
        await sale(seeded, "C-7", "cust-4")  # joins the day's flag, no second flag
        salt = client.app[TRACKING].salt
    [flag] = await open_flags(database)
    assert flag.rule == "shared-customer-ip"
    assert flag.affiliate_id == seeded.affiliate.id
    assert flag.evidence == {
        "customer_ip_hash": hash_address(salt, CUSTOMER)[:16],
        "customers": 3,
        "conversions": 4,
        "threshold": 3,
        "days": 7,
    }
    ids = {txn: (await conversion(database, seeded, txn)).id for txn in ("C-1", "C-2", "C-3")}
    ids |= {txn: (await conversion(database, seeded, txn)).id for txn in ("C-6", "C-7")}
    async with database.read() as store:
        named = dict(await store.fraud.conversions_of(flag.id))
    assert set(named) == set(ids.values())
    listing = await manager("/fraud")
    assert listing.table is not None
    assert listing.table.rows[0][2] == "shared-customer-ip"
    assert "many customers of one affiliate" in listing.table.rows[0][6]
