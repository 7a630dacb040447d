"""Fraud rules on real storage: click floods per batch, conversion rules, holds, review."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from bot.web.click_batches import BatchWriter, click_row
from bot.web.click_buffer import ClickBuffer
from bot.web.metrics import Metrics
from bot.web.visitors import hash_ip, hash_network
from commands.fraud.referrals import DISCORD_EPOCH_MS, discord_account_created
from commands.fraud.rules import FraudRules
from commands.tracking.conversions import TrackingRules, record_conversion
from commands.tracking.postback_fields import ConversionRejected
from commands.tracking.referrals import Outcome, record_signup
from storage import Database
from storage.clicks import NewClick, new_click, new_click_id
from storage.fraud import Flag
from storage.referrals import SIGNUP_REFERRALS
from storage.schema import fraud_click_counters
from tests.conftest import Chat
from tests.tracking_support import Seeded, seed

SALT = "pepper"
NOON = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
RULES = FraudRules(
    clicks_per_ip=5,
    clicks_per_network=8,
    spike_factor=5,
    spike_min_clicks=10,
    min_seconds_to_convert=10,
    reversals=3,
    alert_targets=(("telegram", "900", "user"), ("discord", "77", "chat")),
)


def visit(seeded: Seeded, address: str, at: datetime) -> NewClick:
    return new_click(
        click_id=new_click_id(),
        link_id=seeded.link.id,
        occurred_at=at,
        ip_hash=hash_ip(SALT, address),
        user_agent_family="chrome",
        referer_host=None,
        net_hash=hash_network(SALT, address),
    )


async def write(database: Database, clicks: list[NewClick], rules: FraudRules = RULES) -> None:
    buffer = ClickBuffer(
        database, batch_size=1000, flush_seconds=60, metrics=Metrics(), fraud=rules
    )
    for one in clicks:
        buffer.add(click_row(one))
    assert await buffer.flush()


async def open_flags(database: Database) -> list[Flag]:
    async with database.read() as store:
        return await store.fraud.open_flags(since=None, program_id=None)


async def test_a_flood_from_one_visitor_is_flagged_once_per_window(database: Database) -> None:
    seeded = await seed(database)
    # Two batches: the counter carries over, so the flag fires when the total crosses 5.
    await write(database, [visit(seeded, "203.0.113.7", NOON) for _ in range(3)])
    assert await open_flags(database) == []
    await write(database, [visit(seeded, "203.0.113.7", NOON) for _ in range(3)])
    await write(database, [visit(seeded, "203.0.113.7", NOON)])  # 7 clicks: still one flag
    flags = await open_flags(database)
    assert [flag.rule for flag in flags] == ["ip-flood"]
    flag = flags[0]
    assert flag.affiliate_id == seeded.affiliate.id
    assert flag.program_id == seeded.program.id
    assert flag.evidence["clicks"] == 6  # as it was when the flag was raised
    assert "203.0.113" not in json.dumps(flag.evidence)  # hashes only, never the address
    async with database.read() as store:
        alerts = [await store.outbox.by_key(f"fraud:{flag.id}:telegram:user:900")]
        alerts.append(await store.outbox.by_key(f"fraud:{flag.id}:discord:chat:77"))
    assert all(alert is not None for alert in alerts)
    # Another window starts a new count.
    await write(database, [visit(seeded, "203.0.113.7", NOON + timedelta(hours=1))])
    assert len(await open_flags(database)) == 1


async def test_a_flood_spread_over_one_network_is_flagged(database: Database) -> None:
    seeded = await seed(database)
    await write(database, [visit(seeded, f"198.51.100.{n}", NOON) for n in range(1, 10)])
    assert [flag.rule for flag in await open_flags(database)] == ["net-flood"]
    # The same number of clicks from different networks is not a flood.
    other = await seed(database, slug="other")
    await write(database, [visit(other, f"192.0.{n}.1", NOON) for n in range(1, 10)])
    assert len(await open_flags(database)) == 1


async def test_a_click_rate_far_above_the_links_baseline_is_flagged(database: Database) -> None:
    seeded = await seed(database)
    quiet = replace(RULES, clicks_per_ip=1000, clicks_per_network=1000)
    for hour in range(1, 4):
        at = NOON - timedelta(hours=hour)
        await write(database, [visit(seeded, f"192.0.2.{hour}", at) for _ in range(2)], quiet)
    assert await open_flags(database) == []
    burst = [visit(seeded, f"10.{n}.0.1", NOON) for n in range(12)]
    await write(database, burst, quiet)
    flags = await open_flags(database)
    assert [flag.rule for flag in flags] == ["rate-spike"]
    assert flags[0].evidence["baseline"] == 2


async def test_fast_conversions_are_held_and_settled_by_review(
    database: Database, manager: Chat, alice: Chat
) -> None:
    seeded = await seed(database)
    rules = TrackingRules(fraud=RULES)
    clicked = visit(seeded, "203.0.113.9", NOON)
    await write(database, [clicked])
    assert "now held" in (await manager("/fraud hold shop on")).text
    async with database.read() as store:
        program = await store.programs.get(seeded.program.id)  # now with the hold setting
    assert program is not None
    fast = {"click_id": clicked.click_id, "txn_id": "T-1", "amount": "50", "status": "approved"}
    outcome = await record_conversion(
        database, program, fast, now=NOON + timedelta(seconds=2), rules=rules
    )
    assert outcome.body["status"] == "pending"  # held, though the network said approved
    [flag] = await open_flags(database)
    assert flag.rule == "too-fast"
    assert flag.evidence["seconds"] == 2.0
    # The network cannot approve it behind the manager's back.
    with pytest.raises(ConversionRejected, match="held for fraud review"):
        await record_conversion(
            database, program, fast, now=NOON + timedelta(minutes=1), rules=rules
        )
    listing = await manager("/fraud")
    assert listing.table is not None
    assert listing.table.rows[0][0] == f"#{flag.id}"
    refused = await alice(f"/fraud review {flag.id} approve")
    assert "managers only" in refused.text
    settled = await manager(f"/fraud review {flag.id} approve")
    assert "1 conversion approved." in settled.text
    again = await manager(f"/fraud review {flag.id} reject")
    assert "already settled" in again.text
    async with database.read() as store:
        conversion = await store.conversions.by_txn(seeded.program.id, "T-1")
        entries = await store.audit.recent(5)
    assert conversion is not None
    assert conversion.status == "approved"
    assert any(entry.action == "fraud.approve" for entry in entries)
    assert (await manager("/fraud")).text.startswith("No open fraud flags")


async def test_rejecting_a_flag_reverses_its_conversions(
    database: Database, manager: Chat
) -> None:
    seeded = await seed(database)
    other = await seed(database, slug="other", user="bob")
    rules = TrackingRules(fraud=RULES)
    first = {"code": other.link.code, "txn_id": "DUP", "amount": "10", "customer_id": "c1"}
    await record_conversion(database, other.program, first, now=NOON, rules=rules)
    second = {"code": seeded.link.code, "txn_id": "DUP", "amount": "10", "customer_id": "c2"}
    await record_conversion(database, seeded.program, second, now=NOON, rules=rules)
    # Both came by code without a click, so no-click flags stand beside the duplicate one.
    [flag] = [flag for flag in await open_flags(database) if flag.rule == "duplicate-txn"]
    assert flag.rule == "duplicate-txn"
    assert flag.evidence == {"txn_id": "DUP", "other_programs": 1}
    assert "1 conversion reversed." in (await manager(f"/fraud review {flag.id} reject")).text
    async with database.read() as store:
        conversion = await store.conversions.by_txn(seeded.program.id, "DUP")
    assert conversion is not None
    assert conversion.status == "reversed"


async def test_conversions_without_a_click_and_bursts_of_reversals(database: Database) -> None:
    seeded = await seed(database)
    rules = TrackingRules(fraud=RULES)
    for n in range(3):
        fields = {"code": seeded.link.code, "txn_id": f"R-{n}", "amount": "10"}
        await record_conversion(database, seeded.program, fields, now=NOON, rules=rules)
    assert {flag.rule for flag in await open_flags(database)} == {"no-click"}
    for n in range(3):
        fields = {"code": seeded.link.code, "txn_id": f"R-{n}", "status": "reversed"}
        await record_conversion(database, seeded.program, fields, now=NOON, rules=rules)
    burst = [flag for flag in await open_flags(database) if flag.rule == "reversal-burst"]
    assert len(burst) == 1
    assert burst[0].evidence["reversals"] == 3
    async with database.read() as store:
        attached = await store.fraud.conversions_of(burst[0].id)
    assert len(attached) == 3


async def test_rules_can_be_turned_off(database: Database) -> None:
    seeded = await seed(database)
    off = FraudRules(enabled=False, clicks_per_ip=2)
    await write(database, [visit(seeded, "203.0.113.7", NOON) for _ in range(5)], off)
    fields = {"code": seeded.link.code, "txn_id": "X", "amount": "1"}
    await record_conversion(
        database, seeded.program, fields, now=NOON, rules=TrackingRules(fraud=off)
    )
    assert await open_flags(database) == []


async def test_referral_farming_bursts_and_brand_new_discord_accounts(
    database: Database,
) -> None:
    seeded = await seed(database)
    async with database.transaction() as store:
        settings = {**seeded.program.settings, SIGNUP_REFERRALS: True}
        await store.program_settings.replace_settings(seeded.program.id, settings, now=NOON)
    rules = replace(RULES, referrals_per_code=4, min_account_age_days=7)
    for n in range(5):
        result = await record_signup(
            database,
            seeded.link.code,
            platform="telegram",
            user_id=f"10{n}",
            now=NOON,
            fraud=rules,
        )
        assert result.outcome is Outcome.RECORDED
    [burst] = await open_flags(database)
    assert burst.rule == "referral-burst"
    assert burst.evidence["signups"] == 4
    # A Discord id minted an hour before the signup: the snowflake carries its birth time.
    born = int((NOON - timedelta(hours=1)).timestamp() * 1000) - DISCORD_EPOCH_MS
    snowflake = str(born << 22)
    created = discord_account_created(snowflake)
    assert created is not None
    assert abs((created - (NOON - timedelta(hours=1))).total_seconds()) < 1
    await record_signup(
        database, seeded.link.code, platform="discord", user_id=snowflake, now=NOON, fraud=rules
    )
    rules_seen = sorted(flag.rule for flag in await open_flags(database))
    assert rules_seen == ["new-account", "referral-burst"]
    assert discord_account_created("not-a-number") is None


async def test_a_conversion_rate_far_above_the_programs_is_flagged(database: Database) -> None:
    alice = await seed(database)
    bob = await seed(database, user="bob")
    busy = replace(RULES, clicks_per_ip=10_000, clicks_per_network=10_000, spike_min_clicks=10**6)
    await write(database, [visit(alice, f"10.0.{n}.1", NOON) for n in range(100)], busy)
    await write(database, [visit(bob, f"10.1.{n}.1", NOON) for n in range(10)], busy)
    rules = TrackingRules(fraud=replace(busy, flag_without_click=False, rate_min_conversions=5))
    later = NOON + timedelta(hours=1)
    fields = {"code": alice.link.code, "txn_id": "A-0", "amount": "10"}
    await record_conversion(database, alice.program, fields, now=later, rules=rules)
    for n in range(5):
        fields = {"code": bob.link.code, "txn_id": f"B-{n}", "amount": "10"}
        await record_conversion(database, bob.program, fields, now=later, rules=rules)
    [flag] = await open_flags(database)
    assert flag.rule == "conversion-rate"
    day = int(later.timestamp()) // 86_400
    assert flag.dedupe_key == f"conversion-rate:{bob.program.id}:{bob.affiliate.id}:{day}"
    assert flag.affiliate_id == bob.affiliate.id
    assert flag.evidence["rate_percent"] == 50.0
    assert flag.evidence["program_rate_percent"] == 1.0


async def test_a_spike_crossing_its_threshold_on_a_later_batch_is_flagged_once(
    database: Database,
) -> None:
    """Rules are judged when a batch carries a counter across its threshold: a spike
    that builds up over several batches of one buffer is caught, and only once."""
    seeded = await seed(database)
    quiet = replace(RULES, clicks_per_ip=1000, clicks_per_network=1000)
    for hour in range(1, 4):
        at = NOON - timedelta(hours=hour)
        await write(database, [visit(seeded, f"192.0.2.{hour}", at) for _ in range(2)], quiet)
    buffer = ClickBuffer(
        database, batch_size=1000, flush_seconds=60, metrics=Metrics(), fraud=quiet
    )
    for size in (4, 4, 4, 4):  # 4, 8 (under 10), 12 (crosses max(10, 2 x 5)), 16
        for n in range(size):
            buffer.add(click_row(visit(seeded, f"10.{n}.0.1", NOON)))
        assert await buffer.flush()
    flags = await open_flags(database)
    assert [flag.rule for flag in flags] == ["rate-spike"]
    assert flags[0].evidence["clicks"] == 12


async def counters(database: Database) -> set[tuple[str, datetime]]:
    async with database.read() as store:
        rows = await store.connection.execute(
            select(fraud_click_counters.c.scope, fraud_click_counters.c.window_start)
        )
        return {(row.scope, datetime.fromtimestamp(row.window_start, UTC)) for row in rows}


async def test_visitor_counters_are_pruned_once_their_window_is_past(database: Database) -> None:
    """Per-visitor and per-network counters are read only in their own window; the
    previous window's stay for late clicks, older ones go. Link counters stay: they are
    the baseline of the spike rule."""
    seeded = await seed(database)
    hour = timedelta(hours=1)
    writer = BatchWriter(database, fraud=RULES)  # one writer: it prunes once per window
    deletes: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM FRAUD_CLICK_COUNTERS"):
            deletes.append(statement)

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        await writer.write([click_row(visit(seeded, "203.0.113.7", NOON)) for _ in range(3)])
        await writer.write([click_row(visit(seeded, "203.0.113.7", NOON + hour))])
        assert {scope for scope, at in await counters(database) if at == NOON} == {
            "ip",
            "net",
            "link",
        }
        # Late clicks of the previous window still add to its counter: 3 + 2 crosses 5.
        late = [visit(seeded, "203.0.113.7", NOON + timedelta(minutes=59)) for _ in range(2)]
        await writer.write([click_row(one) for one in late])
        assert [flag.rule for flag in await open_flags(database)] == ["ip-flood"]
        pruned_so_far = len(deletes)
        await writer.write([click_row(visit(seeded, "198.51.100.1", NOON + 2 * hour))])
        await writer.write([click_row(visit(seeded, "198.51.100.1", NOON + 2 * hour))])
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert await counters(database) == {
        ("link", NOON),
        ("link", NOON + hour),
        ("link", NOON + 2 * hour),
        ("ip", NOON + hour),
        ("net", NOON + hour),
        ("ip", NOON + 2 * hour),
        ("net", NOON + 2 * hour),
    }
    assert len(deletes) == pruned_so_far + 1  # once for the new window, not per batch
