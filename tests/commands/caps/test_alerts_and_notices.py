"""Cap alerts, cap-change announcements and conversion notices, through the real tracking
rules, the real scheduler service and the outbox (issue 7 meets issues 3 and 4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.scheduler import ScheduleService
from commands.broadcasts.schedule_runs import Audiences
from commands.core.invocation import Services
from commands.core.reply import Reply
from commands.tracking.conversions import TrackingRules, record_conversion
from storage import Database
from storage.programs import Program
from storage.schema import outbox as outbox_table
from tests.conftest import Chat, Clock
from tests.tracking_support import Seeded, seed

RULES = TrackingRules()
MANAGERS = (("telegram", "900"), ("discord", "901"))
AUDIENCES = Audiences(managers=MANAGERS, platforms=frozenset({"console", "telegram", "discord"}))


async def convert(
    database: Database, program: Program, code: str, txn: str, clock: Clock, **extra: str
) -> dict[str, Any]:
    fields = {"code": code, "txn_id": txn, "amount": "100", **extra}
    outcome = await record_conversion(database, program, fields, now=clock(), rules=RULES)
    return outcome.body


async def outbox(database: Database) -> dict[str, dict[str, Any]]:
    """Every queued message by dedupe key, with its payload as a Reply."""
    async with database.read() as store:
        rows = await store.connection.execute(select(outbox_table))
        return {
            row.dedupe_key: {
                "platform": row.platform,
                "target": row.target_id,
                "reply": Reply.from_json(row.payload),
                "broadcast": row.broadcast_key,
            }
            for row in rows
        }


def service(database: Database, clock: Clock, **kwargs: Any) -> ScheduleService:
    return ScheduleService(database, AUDIENCES, clock=clock, reload_seconds=3600, **kwargs)


async def test_cap_alerts_reach_managers_and_affected_affiliates_once(
    database: Database, manager: Chat, clock: Clock
) -> None:
    alice = await seed(database, user="alice", fallback="https://shop.example/full")
    bob = await seed(database, user="bob")
    await manager("/cap set shop 2 month conversions fallback")
    await convert(database, alice.program, alice.link.code, "A1", clock)
    await convert(database, alice.program, bob.link.code, "B1", clock)  # 100%: both cross

    schedules = service(database, clock)
    first = await schedules.cap_alerts()
    again = await schedules.cap_alerts()
    queued = await outbox(database)
    alerts = {key: value for key, value in queued.items() if key.startswith("cap-alert:")}
    assert again == 0
    assert first == len(alerts)
    to_managers = [v for k, v in alerts.items() if ":manager:" in k]
    to_affiliates = [v for k, v in alerts.items() if ":manager:" not in k]
    # Two thresholds (90 %, 100 %) times two manager accounts, and the two members each time.
    assert sorted((v["platform"], v["target"]) for v in to_managers) == sorted(
        [*MANAGERS, *MANAGERS]
    )
    assert sorted(v["target"] for v in to_affiliates) == ["alice", "alice", "bob", "bob"]
    texts = [v["reply"].text for v in to_affiliates]
    assert any(
        "has reached its cap of 2 conversions per month (2 of 2" in text
        and "fallback page" in text
        for text in texts
    )
    assert any("is at 90% of its cap of 2 conversions per month" in text for text in texts)
    assert all(v["reply"].private for v in alerts.values())
    assert all(v["broadcast"] is None for v in alerts.values())
    assert "the program used 2 of 2 conversions per month" in to_managers[0]["reply"].text or any(
        "used 2 of 2 conversions per month" in v["reply"].text for v in to_managers
    )
    async with database.read() as store:
        assert await store.caps.unnotified_events() == []


async def test_a_notify_cap_alerts_managers_only_and_names_the_affiliate(
    database: Database, manager: Chat, clock: Clock
) -> None:
    alice = await seed(database, user="alice")
    await manager("/cap set shop 1 day conversions notify --per-affiliate --alerts 100")
    await convert(database, alice.program, alice.link.code, "A1", clock)
    assert await service(database, clock).cap_alerts() == len(MANAGERS)
    alerts = [v for k, v in (await outbox(database)).items() if k.startswith("cap-alert:")]
    assert {v["target"] for v in alerts} == {"900", "901"}
    assert all(f"#{alice.affiliate.id} alice used 1 of" in v["reply"].text for v in alerts)


async def test_cap_changes_are_announced_like_commission_changes(
    services: Services, database: Database, manager: Chat
) -> None:
    await seed(database, user="alice")
    await seed(database, user="bob")
    reply = await manager("/cap set shop 100 month conversions")
    assert "Announced to 2 affiliates (2 messages queued)." in reply.notes
    off = await manager("/cap off shop")
    assert "Announced to 2 affiliates (2 messages queued)." in off.notes
    announced = [v for k, v in (await outbox(database)).items() if k.startswith("cap.")]
    assert sorted(v["target"] for v in announced) == ["alice", "alice", "bob", "bob"]
    texts = {v["reply"].text for v in announced}
    assert texts == {
        "New cap: 100 conversions per month. When it is reached, nothing changes for you.",
        "The cap of 100 conversions per month is removed.",
    }
    # A refused change queues nothing.
    before = len(await outbox(database))
    await manager("/cap off shop")
    assert len(await outbox(database)) == before


async def set_notices(database: Database, seeded: Seeded, value: str) -> None:
    async with database.transaction() as store:
        await store.affiliates.set_preferences(seeded.affiliate.id, conversion_notices=value)


async def test_instant_notices_are_queued_with_the_approval_and_only_then(
    database: Database, clock: Clock, alice: Chat
) -> None:
    seeded = await seed(database, user="alice")
    answer = await alice("/settings notices instant")
    assert answer.text == "Your commission notices are now instant."
    await convert(database, seeded.program, seeded.link.code, "P1", clock, status="pending")
    assert not [k for k in await outbox(database) if k.startswith("conversion:")]
    body = await convert(
        database, seeded.program, seeded.link.code, "P1", clock, status="approved"
    )
    await convert(database, seeded.program, seeded.link.code, "A2", clock, status="approved")
    await convert(database, seeded.program, seeded.link.code, "A2", clock, status="approved")
    notices = {k: v for k, v in (await outbox(database)).items() if k.startswith("conversion:")}
    assert sorted(notices) == sorted(
        [
            f"conversion:{body['conversion_id']}:console:user:alice",
            f"conversion:{body['conversion_id'] + 1}:console:user:alice",
        ]
    )
    (first, _) = notices.values()
    assert first["reply"].text == "+10.00 USD commission, program Shop."
    assert first["reply"].private


async def test_daily_digest_sums_yesterday_per_affiliate_once(
    database: Database, clock: Clock
) -> None:
    alice = await seed(database, user="alice")
    bob = await seed(database, user="bob")
    carol = await seed(database, user="carol")
    await set_notices(database, bob, "off")
    await set_notices(database, carol, "instant")
    clock.now = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)
    for txn in ("D1", "D2"):
        await convert(database, alice.program, alice.link.code, txn, clock, status="approved")
    await convert(database, bob.program, bob.link.code, "D3", clock, status="approved")
    await convert(database, carol.program, carol.link.code, "D4", clock, status="approved")
    await convert(database, alice.program, alice.link.code, "D5", clock, status="pending")
    clock.now = datetime(2026, 11, 18, 9, 30, tzinfo=UTC)  # after the 09:00 digest time
    schedules = service(database, clock, digest_cron="0 9 * * *")
    assert await schedules.digest() == 1
    assert await schedules.digest() == 0  # keyed by the day: once
    digests = {k: v for k, v in (await outbox(database)).items() if k.startswith("digest:")}
    assert list(digests) == [
        f"digest:2026-11-17:affiliate-{alice.affiliate.id}:console:user:alice"
    ]
    (digest,) = digests.values()
    assert digest["reply"].title == "Commission approved on 2026-11-17"
    assert digest["reply"].text == "+20.00 USD commission from 2 conversions."
    assert digest["reply"].table is not None
    assert digest["reply"].table.rows == (("Shop", "2", "20.00 USD"),)
    # The next day's digest is separate; nothing was approved that day.
    clock.now += timedelta(days=1)
    assert await schedules.digest() == 0
