"""/report health figures, /payouts, /payout mark, and the CSV exports."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import open_core
from bot.config import load_config
from bot.export import inert, run_export, write_csv
from commands.core.invocation import Actor, ChatKind
from commands.reporting.export import export_table
from storage import Database
from storage.schema import caps
from tests.conftest import Chat, Clock
from tests.core_seed import add_clicks, add_conversion

NOV = datetime(2026, 11, 1, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")  # export_table takes a configured zone, not datetime.UTC


async def test_report_totals_and_referral_health(
    manager: Chat, alice: Chat, bob: Chat, database: Database, clock: Clock
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await alice("/join shop")
    await bob("/join shop")
    await add_clicks(database, "alice", "shop", 20, NOV + timedelta(days=9))
    # An old referred customer who came back four months later (retained at 3, not 6).
    await add_conversion(
        database,
        "alice",
        "shop",
        at=datetime(2026, 5, 1, tzinfo=UTC),
        amount=5000,
        commission=500,
        customer="old",
        status="paid",
    )
    await add_conversion(
        database,
        None,
        "shop",
        at=datetime(2026, 9, 1, tzinfo=UTC),
        amount=5000,
        commission=0,
        customer="old",
        status="approved",
    )
    # This month: one referred new customer, one direct new customer, one sale without id.
    await add_conversion(
        database,
        "alice",
        "shop",
        at=NOV + timedelta(days=9),
        amount=10000,
        commission=1000,
        customer="c1",
    )
    await add_conversion(
        database,
        None,
        "shop",
        at=NOV + timedelta(days=4),
        amount=8000,
        commission=0,
        customer="d1",
        status="approved",
    )
    await add_conversion(
        database, "bob", "shop", at=NOV + timedelta(days=11), amount=20000, commission=2000
    )
    await add_conversion(
        database,
        "bob",
        "shop",
        at=NOV + timedelta(days=12),
        amount=9000,
        commission=900,
        status="reversed",
    )
    async with database.writing() as connection:
        for scope, metric, limit in (
            ("program", "conversions", 50),
            ("affiliate", "commission", 5000),
        ):
            await connection.execute(
                caps.insert().values(
                    program_id=1,
                    scope=scope,
                    metric=metric,
                    period="month",
                    limit_value=limit,
                    action="notify",
                    alert_percents=[80],
                    effective_from=NOV,
                )
            )
    reply = await manager("/report")
    assert reply.private
    assert reply.title == "Report, this month"
    assert reply.table is not None
    assert reply.table.rows == (("shop", "20", "2", "10.0%", "300.00 USD", "30.00 USD"),)
    fields = {field.name: field.value for field in reply.fields}
    assert fields["Top affiliates (conversions)"] == "1. #1 Alice — 1\n1. #2 Bob — 1"
    assert fields["Caps"] == (
        "shop: 2 of 50 conversions a month (4%)\nshop: 50.00 USD commission a month per affiliate"
    )
    assert fields["Referral health (USD)"].splitlines() == [
        "Referral rate: 50% (1 of 2 new customers)",
        "CAC through affiliates: 30.00 USD",
        "CLV of referred customers: 100.00 USD",
        "Retention of referred customers: 3 months 100%, 6 months 0%, 12 months –",
    ]
    single = await manager("/report all shop")
    assert single.title == "Report, all time: shop"
    assert single.table is not None
    assert single.table.rows[0][2] == "3"


async def test_payouts_list_mark_and_tell(
    manager: Chat, alice: Chat, bob: Chat, database: Database, clock: Clock
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await manager("/program edit shop --min-payout 15")
    await alice("/join shop")
    await bob("/join shop")
    oct1 = datetime(2026, 10, 1, tzinfo=UTC)
    await add_conversion(database, "alice", "shop", at=oct1, status="approved", commission=1000)
    await add_conversion(
        database, "alice", "shop", at=oct1 + timedelta(days=9), status="approved", commission=700
    )
    await add_conversion(
        database,
        "alice",
        "shop",
        at=clock.now - timedelta(days=8),
        status="approved",
        commission=500,
    )
    await add_conversion(
        database, "alice", "shop", at=oct1, status="approved", commission=999, over_cap=True
    )
    await add_conversion(database, "bob", "shop", at=oct1, status="approved", commission=1000)
    due = await manager("/payouts")
    assert due.private
    assert due.table is not None
    assert due.table.rows == (("#1", "Alice", "", "USD", "17.00 USD", "shop"),)
    wrong = await manager("/payout mark alice 16")
    assert wrong.text == (
        "#1 Alice's payable balance is 17.00 USD, not 16.00 USD; mark exactly the payable balance."
    )
    assert "has no payable balance in EUR." in (await manager("/payout mark alice 17 EUR")).text
    # Platforms with typed options (Discord) hand the dispatcher already-split values.
    spec = manager.dispatcher.registry.get("payout mark")
    assert spec is not None
    typed = await manager.dispatcher.execute(
        spec, {"who": "#1", "amount": "17.001 USD"}, manager.actor, ChatKind.GROUP
    )
    assert typed[0].text == "17.001 has more decimals than USD allows."
    done = await manager("/payout mark alice 17.00 USD PAY 2026/118")
    assert (
        done.text
        == "Marked 17.00 USD as paid to #1 Alice (2 conversions). They are told privately."
    )
    assert (await manager("/payouts")).text == "Nobody is due a payout right now."
    earnings = await alice("/earnings")
    assert earnings.table is not None
    assert earnings.table.rows == (
        ("shop", "0.00 USD", "5.00 USD", "0.00 USD", "17.00 USD", "0.00 USD"),
    )
    assert {f.name: f.value for f in earnings.fields}["Last payout"] == "17.00 USD on 2026-11-18"
    async with database.read() as store:
        history = await store.payouts.history()
        audit = (await store.audit.recent(1))[0]
        note = await store.outbox.by_key(f"payout:{history[0].id}:console:user:alice")
    assert [(p.amount_minor, p.reference) for p in history] == [(1700, "PAY 2026/118")]
    assert audit.action == "payout.mark"
    assert audit.after == {
        "payout_id": history[0].id,
        "paid_minor": 1700,
        "reference": "PAY 2026/118",
        "conversions": 2,
        "bonuses": 0,
    }
    assert note is not None
    assert note["payload"]["fields"] == [["Reference", "PAY 2026/118", True]]


async def test_exports_match_the_commands(
    manager: Chat, alice: Chat, database: Database, clock: Clock
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await alice("/join shop")
    await add_conversion(
        database,
        "alice",
        "shop",
        at=datetime(2026, 10, 1, tzinfo=UTC),
        status="approved",
        commission=1234,
        customer="=cmd|calc",
    )
    zone = clock.now.tzinfo
    assert zone is not None
    payouts = await export_table(database, "payouts", now=clock.now, zone=UTC_ZONE)
    assert payouts.rows == (("1", "Alice", "", "console:alice", "USD", "12.34", "shop"),)
    conversions = await export_table(
        database, "conversions", now=clock.now, zone=UTC_ZONE, period="all"
    )
    assert conversions.rows[0][1:] == (
        "shop",
        "1",
        conversions.rows[0][3],
        "sale",
        "100.00",
        "12.34",
        "USD",
        "approved",
        "no",
        "",
        "=cmd|calc",
        "2026-10-01T00:00:00+00:00",
        "",
    )
    board = await export_table(
        database, "leaderboard", now=clock.now, zone=UTC_ZONE, period="all", metric="commission"
    )
    assert board.rows == (("1", "1", "Alice", "", "12.34", "USD", "Alice"),)
    out = io.StringIO()
    write_csv(conversions, out)
    assert "'=cmd|calc" in out.getvalue()
    assert inert("-12.50") == "-12.50"
    assert inert("@SUM(A1)") == "'@SUM(A1)"


async def test_affbot_export_writes_csv(tmp_path: Path) -> None:
    config = load_config(None, {"AFFBOT_DATABASE__URL": f"sqlite:///{tmp_path / 'x.db'}"})
    boss = Actor("console", "boss", "Boss", is_manager=True)
    ann = Actor("console", "ann", "Ann")
    async with open_core(config) as core:
        await core.dispatcher.execute_line(
            "/program add shop https://s.example/ 10%", boss, ChatKind.PRIVATE
        )
        await core.dispatcher.execute_line("/join shop", ann, ChatKind.PRIVATE)
        await add_conversion(
            core.database, "ann", "shop", at=datetime.now(UTC) - timedelta(hours=1)
        )
    target = tmp_path / "board.csv"
    status = await run_export(
        config, "leaderboard", period="all", program="shop", metric="conversions", output=target
    )
    assert status == 0
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows == [
        ["rank", "affiliate_id", "name", "alias", "conversions", "currency", "shown_as"],
        ["1", "1", "Ann", "", "1", "", "Ann"],
    ]
    stdout = io.StringIO()
    assert (
        await run_export(
            config,
            "payouts",
            period="month",
            program=None,
            metric="conversions",
            output=None,
            stdout=stdout,
        )
        == 0
    )
    assert stdout.getvalue().startswith("affiliate_id,name,alias,accounts,currency,payable")
    assert (
        await run_export(
            config,
            "conversions",
            period="month",
            program="nope",
            metric="conversions",
            output=None,
        )
        == 2
    )


async def test_report_shows_reward_roles_discord_refused(
    database: Database, manager: Chat, alice: Chat, clock: Clock
) -> None:
    await manager("/program add shop https://shop.example 10%")
    await alice("/join shop")
    before = await manager("/report")
    assert not [f for f in before.fields if f.name.startswith("Discord reward roles")]
    async with database.transaction() as store:
        affiliate = await store.affiliates.by_identity("console", "alice")
        assert affiliate is not None
        await store.reward_roles.queue(affiliate.id, ["555"], ["777"], "grant", now=clock.now)
        (change,) = await store.reward_roles.pending()
        await store.reward_roles.finish(
            change.id,
            error="Discord refused: the bot needs the Manage Roles permission",
            now=clock.now,
        )
    report = await manager("/report")
    problems = {field.name: field.value for field in report.fields}[
        "Discord reward roles that failed"
    ]
    assert problems == (
        f"grant role 777 for affiliate #{affiliate.id}: "
        "Discord refused: the bot needs the Manage Roles permission"
    )
