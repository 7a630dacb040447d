"""What every repository builds from its rows, on every engine, pinned field by field.

Each test writes rows with every field set (booleans true and false, JSON empty and full,
nullable columns null and set, aware times with microseconds and a non-UTC offset) and
reads them back through the repositories. ``same`` compares with ``==`` and also the type
of every value: ``1 == True`` and a naive time would pass a plain comparison, yet callers
were always given a ``bool`` and an aware UTC time.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select, update

from storage import Database
from storage._sql import from_row
from storage.affiliates import Affiliate, Identity, Membership
from storage.audit import AuditEntry
from storage.caps import Cap, CapEvent, NewCap
from storage.clicks import ClickRef, new_click
from storage.conversions import Conversion, NewConversion, StatusEvent
from storage.fraud import Flag, NewFlag
from storage.links import Link, LinkTarget
from storage.outbox import ClaimedMessage, OutgoingMessage
from storage.payouts import PayableConversion, Payout
from storage.performance import CapInForce, ConversionRecord
from storage.programs import Commission, NewProgram, Program
from storage.referrals import NewSignup, SignupReferral
from storage.reward_roles import RoleChange
from storage.rewards import Badge, RewardDefaults, RewardRules, Tier, TierState
from storage.schedules import NewSchedule, Schedule, ScheduleTarget
from storage.schema import links, programs
from storage.server_joins import NewJoin, ServerInvite, ServerJoin
from storage.sightings import Sighting
from storage.store import Store
from storage.targets import NewTarget, Target
from storage.weekly import Season

# Microseconds survive on both engines; the +02:00 time must come back as the same instant
# in UTC.
NOW = datetime(2026, 11, 18, 12, 0, 0, 123456, tzinfo=UTC)
LATER = datetime(2026, 11, 19, 14, 30, 5, 654321, tzinfo=timezone(timedelta(hours=2)))
EVIDENCE = {"clicks": 41, "window": "2026-11-18T12", "hashes": ["ab", "cd"], "rate": 0.5}


def same(actual: object, expected: object) -> None:
    """``actual == expected``, with every value of the same type and every time aware UTC."""
    assert actual == expected
    _same_types(actual, expected, type(expected).__name__)


def _same_types(actual: Any, expected: Any, path: str) -> None:
    assert type(actual) is type(expected), (path, actual, expected)
    if isinstance(expected, datetime):
        assert actual.tzinfo is UTC, (path, actual)
    elif dataclasses.is_dataclass(expected):
        for field in dataclasses.fields(expected):
            name = f"{path}.{field.name}"
            _same_types(getattr(actual, field.name), getattr(expected, field.name), name)
    elif isinstance(expected, tuple | list):
        for index, (one, other) in enumerate(zip(actual, expected, strict=True)):
            _same_types(one, other, f"{path}[{index}]")
    elif isinstance(expected, dict):
        for key, value in expected.items():
            _same_types(actual[key], value, f"{path}[{key!r}]")


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


async def add_program(store: Store, slug: str, **fields: Any) -> Program:
    return await store.programs.add(
        NewProgram(
            slug=slug,
            name=slug.title(),
            destination_url=f"https://{slug}.example/",
            currency="EUR",
            commission=Commission("percent", 1250, "EUR", NOW),
            **fields,
        ),
        now=NOW,
        actor="boss",
    )


async def add_affiliate(store: Store, user_id: str) -> Affiliate:
    return await store.affiliates.ensure_for_identity("telegram", user_id, user_id, now=NOW)


async def test_programs_and_commissions(database: Database) -> None:
    async with database.transaction() as store:
        plain = await add_program(store, "plain")
        full = await add_program(
            store,
            "full",
            fallback_url="https://fallback.example/",
            approval_required=True,
            attribution_days=7,
            holding_days=14,
            min_payout_minor=5000,
            recurring_months=12,
        )
        await store.programs.edit(full.id, now=LATER, materials={"banner": "https://b/", "n": 2})
        await store.program_settings.set_flag(full.id, "signup_referrals", True, now=LATER)
        await store.programs.set_commission(
            full.id, Commission("flat", 300, "EUR", LATER), now=LATER, actor=None
        )
        # A JSON null (what a None written to a JSON column stores) reads as an empty object.
        nulled = await add_program(store, "nulled")
        await store.connection.execute(
            update(programs)
            .where(programs.c.id == nulled.id)
            .values(materials=None, settings=None)
        )
    expected_plain = Program(
        id=plain.id,
        slug="plain",
        name="Plain",
        destination_url="https://plain.example/",
        fallback_url=None,
        currency="EUR",
        status="active",
        approval_required=False,
        attribution_days=30,
        holding_days=30,
        min_payout_minor=0,
        recurring_months=0,
        materials={},
        settings={},
        created_at=NOW,
        updated_at=NOW,
    )
    expected_full = dataclasses.replace(
        expected_plain,
        id=full.id,
        slug="full",
        name="Full",
        destination_url="https://full.example/",
        fallback_url="https://fallback.example/",
        approval_required=True,
        attribution_days=7,
        holding_days=14,
        min_payout_minor=5000,
        recurring_months=12,
        materials={"banner": "https://b/", "n": 2},
        settings={"signup_referrals": True},
        updated_at=utc(LATER),
    )
    expected_nulled = dataclasses.replace(
        expected_plain,
        id=nulled.id,
        slug="nulled",
        name="Nulled",
        destination_url=nulled.destination_url,
    )
    same(plain, expected_plain)
    async with database.read() as store:
        same(await store.programs.get(full.id), expected_full)
        same(await store.programs.by_slug("plain"), expected_plain)
        same(await store.programs.list(), [expected_full, expected_nulled, expected_plain])
        first = Commission("percent", 1250, "EUR", NOW)
        second = Commission("flat", 300, "EUR", utc(LATER))
        same(await store.programs.commission_at(full.id, NOW), first)
        same(await store.programs.commission_history(full.id), [first, second])


async def test_affiliates_identities_and_memberships(database: Database) -> None:
    async with database.transaction() as store:
        shop = await add_program(store, "shop")
        plain = await add_affiliate(store, "100")
        full = await add_affiliate(store, "200")
        await store.affiliates.attach_identity(full.id, "discord", "d200", "Dee", now=NOW)
        await store.affiliates.set_preferences(
            full.id,
            alias="dee",
            visibility="alias",
            feedback="off",
            conversion_notices="instant",
            timezone="Europe/Berlin",
        )
        await store.affiliates.set_status(full.id, "suspended", reason="spam")
        await store.affiliates.join(plain.id, shop.id, "pending", now=NOW)
        await store.affiliates.join(full.id, shop.id, "approved", now=LATER)
        await store.outbox.enqueue(
            [OutgoingMessage("dm:1", "discord", "user", "d200", {"text": "hi"})], now=NOW
        )
        (claimed,) = await store.outbox.claim(
            "discord", now=NOW, limit=1, lease=timedelta(minutes=1)
        )
        await store.outbox.mark_unreachable(claimed, reason="blocked the bot", now=NOW)
    expected_plain = Affiliate(
        id=plain.id,
        display_name="100",
        alias=None,
        status="active",
        suspended_reason=None,
        visibility="public",
        feedback="weekly",
        conversion_notices="daily",
        timezone=None,
        created_at=NOW,
    )
    expected_full = Affiliate(
        id=full.id,
        display_name="200",
        alias="dee",
        status="suspended",
        suspended_reason="spam",
        visibility="alias",
        feedback="off",
        conversion_notices="instant",
        timezone="Europe/Berlin",
        created_at=NOW,
    )
    telegram = Identity(0, full.id, "telegram", "200", "200", None)
    discord = Identity(0, full.id, "discord", "d200", "Dee", "blocked the bot")
    pending = Membership(plain.id, shop.id, "pending", NOW, None)
    approved = Membership(full.id, shop.id, "approved", utc(LATER), utc(LATER))
    same(plain, expected_plain)
    async with database.read() as store:
        same(await store.affiliates.get(full.id), expected_full)
        same(await store.affiliates.by_identity("discord", "d200"), expected_full)
        same(await store.affiliates.by_alias("DEE"), expected_full)
        same(await store.affiliates.all_affiliates(), [expected_plain, expected_full])
        same(
            await store.affiliates.get_many([plain.id, full.id]),
            {plain.id: expected_plain, full.id: expected_full},
        )
        identities = await store.affiliates.identities_of(full.id)
        telegram = dataclasses.replace(telegram, id=identities[0].id)
        discord = dataclasses.replace(discord, id=identities[1].id)
        same(identities, [telegram, discord])
        same(await store.affiliates.find_identities(platform_user_id="d200"), [discord])
        same(await store.affiliates.identities_of_many([full.id]), {full.id: [telegram, discord]})
        same(await store.affiliates.membership(plain.id, shop.id), pending)
        same(await store.affiliates.memberships_of(full.id), [approved])
        same(await store.affiliates.memberships_with_status("approved"), [approved])


async def test_links_and_their_targets(database: Database) -> None:
    async with database.transaction() as store:
        plain_program = await add_program(store, "plain")
        full_program = await add_program(store, "full", fallback_url="https://fallback.example/")
        affiliate = await add_affiliate(store, "1")
        plain = await store.links.ensure(affiliate.id, plain_program.id, "", now=NOW)
        full = await store.links.ensure(affiliate.id, full_program.id, "spring", now=LATER)
        await store.programs.set_status(full_program.id, "paused", now=LATER)
    expected_plain = Link(plain.id, plain.code, affiliate.id, plain_program.id, "", NOW)
    expected_full = Link(full.id, full.code, affiliate.id, full_program.id, "spring", utc(LATER))
    same(plain, expected_plain)
    async with database.read() as store:
        same(await store.links.of_affiliate(affiliate.id), [expected_plain, expected_full])
        same(
            await store.links.target(plain.code),
            LinkTarget(
                expected_plain, "plain", "https://plain.example/", None, "active", "active"
            ),
        )
        same(
            await store.links.target(full.code),
            LinkTarget(
                expected_full,
                "full",
                "https://full.example/",
                "https://fallback.example/",
                "paused",
                "active",
            ),
        )


async def test_conversions_events_records_and_payouts(database: Database) -> None:
    async with database.transaction() as store:
        shop = await add_program(store, "shop", holding_days=0)
        affiliate = await add_affiliate(store, "1")
        link = await store.links.ensure(affiliate.id, shop.id, "", now=NOW)
        bare = NewConversion(
            program_id=shop.id,
            affiliate_id=None,
            link_id=None,
            click_id=None,
            txn_id="bare",
            kind="lead",
            amount_minor=0,
            currency="EUR",
            commission_minor=0,
            status="pending",
            over_cap=False,
            customer_id=None,
            occurred_at=NOW,
        )
        full = NewConversion(
            program_id=shop.id,
            affiliate_id=affiliate.id,
            link_id=link.id,
            click_id="click-1",
            txn_id="full",
            kind="sale",
            amount_minor=10_000,
            currency="EUR",
            commission_minor=1_250,
            status="approved",
            over_cap=True,
            customer_id="cust-1",
            occurred_at=LATER,
            customer_ip_hash="f" * 64,
        )
        bare_id = await store.conversions.insert(bare, now=NOW)
        full_id = await store.conversions.insert(full, now=LATER)
        assert bare_id is not None
        assert full_id is not None
        created = StatusEvent(bare_id, "pending", None, 0, {}, "postback", NOW)
        approved = StatusEvent(
            full_id,
            "approved",
            "pending",
            1_250,
            {"status": "ok", "ids": [1, 2]},
            "manual",
            utc(LATER),
        )
        await store.conversions.add_event(created)
        await store.conversions.add_event(approved)
        # Payable needs over_cap false: a second approved conversion, then its payout.
        payable_id = await store.conversions.insert(
            dataclasses.replace(
                full, txn_id="payable", over_cap=False, customer_id="cust-2", occurred_at=NOW
            ),
            now=NOW,
        )
        assert payable_id is not None
        payable = await store.payouts.payable_conversions(affiliate.id, [shop.id], now=LATER)
        unreferenced = await store.payouts.record(
            affiliate.id, 100, "EUR", [], reference=None, actor="boss", now=NOW
        )
        referenced = await store.payouts.record(
            affiliate.id, 1_250, "EUR", [payable_id], reference="SEPA 7", actor="boss", now=LATER
        )
        await store.referrals.record_signup(
            NewSignup(shop.id, affiliate.id, link.id, "signup:telegram:9", "telegram:9", "EUR"),
            now=LATER,
        )
    # What was written, plus the id and times the repository added (LATER comes back as the
    # same instant in UTC, which ``same`` checks).
    expected_bare = Conversion(
        id=bare_id, **dataclasses.asdict(bare), created_at=NOW, updated_at=NOW
    )
    expected_full = Conversion(
        id=full_id, **dataclasses.asdict(full), created_at=LATER, updated_at=LATER
    )
    same(payable, [PayableConversion(payable_id, shop.id, 1_250, NOW)])
    async with database.read() as store:
        same(await store.conversions.get(bare_id), expected_bare)
        same(await store.conversions.by_txn(shop.id, "full"), expected_full)
        same(await store.conversions.first_of_customer(shop.id, "cust-1"), expected_full)
        same(await store.conversions.event(bare_id, "pending"), created)
        same(await store.conversions.history(full_id), [approved])
        records = await store.performance.conversion_records(None, LATER + timedelta(days=1))
        same(
            [record for record in records if record.id in (bare_id, full_id)],
            [
                ConversionRecord(
                    bare_id,
                    "shop",
                    None,
                    "bare",
                    "lead",
                    0,
                    "EUR",
                    0,
                    "pending",
                    False,
                    None,
                    NOW,
                    while_suspended=False,
                    affiliate_suspended=False,
                ),
                ConversionRecord(
                    full_id,
                    "shop",
                    affiliate.id,
                    "full",
                    "sale",
                    10_000,
                    "EUR",
                    1_250,
                    "approved",
                    True,
                    "cust-1",
                    utc(LATER),
                    while_suspended=False,
                    affiliate_suspended=False,
                ),
            ],
        )
        same(
            await store.payouts.history(affiliate.id),
            [
                Payout(referenced.id, affiliate.id, 1_250, "EUR", "SEPA 7", "boss", utc(LATER)),
                Payout(unreferenced.id, affiliate.id, 100, "EUR", None, "boss", NOW),
            ],
        )
        (signup,) = await store.referrals.signups_of(affiliate.id)
        expected_signup = SignupReferral(
            id=signup.id,
            program_id=shop.id,
            affiliate_id=affiliate.id,
            link_id=link.id,
            txn_id="signup:telegram:9",
            customer_id="telegram:9",
            status="pending",
            commission_minor=0,
            occurred_at=utc(LATER),
        )
        same(signup, expected_signup)
        same(await store.referrals.signup(shop.id, "signup:telegram:9"), expected_signup)


async def test_caps_and_cap_events(database: Database) -> None:
    async with database.transaction() as store:
        shop = await add_program(store, "shop")
        affiliate = await add_affiliate(store, "1")
        _, default = await store.caps.set(
            NewCap(shop.id, "program", "conversions", "month", 100, "notify", (), NOW),
            actor=None,
        )
        _, alerting = await store.caps.set(
            NewCap(shop.id, "affiliate", "commission", "week", 5_000, "pause", (50, 90), LATER),
            actor="boss",
        )
        program_event = CapEvent(default.id, shop.id, None, "2026-11", 90, 91, 100, NOW)
        affiliate_event = CapEvent(
            alerting.id, shop.id, affiliate.id, "2026-W47", 50, 2_600, 5_000, utc(LATER)
        )
        await store.caps.record_event(program_event)
        await store.caps.record_event(affiliate_event)
        (first_id, _), _ = await store.caps.unnotified_events()
        await store.caps.mark_notified([first_id], now=LATER)
    expected_default = Cap(
        default.id, shop.id, "program", "conversions", "month", 100, "notify", (), NOW, None
    )
    expected_alerting = Cap(
        alerting.id,
        shop.id,
        "affiliate",
        "commission",
        "week",
        5_000,
        "pause",
        (50, 90),
        utc(LATER),
        None,
    )
    same((default, alerting), (expected_default, expected_alerting))
    notified = dataclasses.replace(program_event, notified_at=utc(LATER))
    async with database.read() as store:
        same(await store.caps.active(shop.id), [expected_alerting, expected_default])
        same(await store.caps.events(program_id=shop.id), [notified, affiliate_event])
        (pending,) = await store.caps.unnotified_events()
        same(pending[1], affiliate_event)
        same(
            await store.performance.caps_in_force([shop.id], LATER + timedelta(days=1)),
            [
                CapInForce(default.id, shop.id, "program", "conversions", "month", 100, "notify"),
                CapInForce(
                    alerting.id, shop.id, "affiliate", "commission", "week", 5_000, "pause"
                ),
            ],
        )


async def test_fraud_flags(database: Database) -> None:
    async with database.transaction() as store:
        shop = await add_program(store, "shop")
        affiliate = await add_affiliate(store, "1")
        link = await store.links.ensure(affiliate.id, shop.id, "", now=NOW)
        bare_raised = await store.fraud.raise_flag(
            NewFlag("bare", "customer_velocity", None, None, None, {}), now=NOW
        )
        full_raised = await store.fraud.raise_flag(
            NewFlag("full", "click_flood", shop.id, affiliate.id, link.id, EVIDENCE), now=LATER
        )
        assert bare_raised is not None
        assert full_raised is not None
        bare_id, full_id = bare_raised.flag_id, full_raised.flag_id
        await store.fraud.decide(full_id, "rejected", by="boss", now=LATER)
    bare = Flag(
        bare_id, "bare", "customer_velocity", None, None, None, {}, "open", NOW, None, None, 1, NOW
    )
    full = Flag(
        full_id,
        "full",
        "click_flood",
        shop.id,
        affiliate.id,
        link.id,
        EVIDENCE,
        "rejected",
        utc(LATER),
        utc(LATER),
        "boss",
        1,
        utc(LATER),
    )
    async with database.read() as store:
        same(await store.fraud.get(full_id), full)
        same(await store.fraud.open_flags(since=None, program_id=None), [bare])


async def test_schedules(database: Database) -> None:
    async with database.transaction() as store:
        shop = await add_program(store, "shop")
        bare = await store.schedules.add(NewSchedule("leaderboard", "0 9 * * MON", "UTC"), now=NOW)
        full = await store.schedules.add(
            NewSchedule(
                kind="announcement",
                cron="30 18 * * FRI",
                timezone="Europe/Berlin",
                period="this-month",
                targets=(ScheduleTarget("telegram", "-1001"), ScheduleTarget("discord", "42")),
                program_id=shop.id,
                message="Weekend sale!",
                created_by="boss",
            ),
            now=LATER,
        )
        await store.schedules.disable(full.id)
    expected_bare = Schedule(
        bare.id, "leaderboard", "0 9 * * MON", "UTC", "last-week", (), None, None, True, None, NOW
    )
    expected_full = Schedule(
        id=full.id,
        kind="announcement",
        cron="30 18 * * FRI",
        timezone="Europe/Berlin",
        period="this-month",
        targets=(ScheduleTarget("telegram", "-1001"), ScheduleTarget("discord", "42")),
        program_id=shop.id,
        message="Weekend sale!",
        enabled=False,
        created_by="boss",
        created_at=utc(LATER),
    )
    same(bare, expected_bare)
    same(full, dataclasses.replace(expected_full, enabled=True))
    async with database.read() as store:
        same(await store.schedules.get(full.id), expected_full)
        same(await store.schedules.all(), [expected_bare])
        same(await store.schedules.all(enabled_only=False), [expected_bare, expected_full])


async def test_server_invites_and_joins(database: Database) -> None:
    async with database.transaction() as store:
        shop = await add_program(store, "shop")
        affiliate = await add_affiliate(store, "1")
        invite = ServerInvite("inv1", "g", "c", affiliate.id, shop.id, utc(LATER))
        same(await store.server_joins.save_invite(invite), invite)
        anonymous = NewJoin("g", "anon", NOW, unattributed_reason="vanity")
        attributed = NewJoin("g", "m", LATER, affiliate.id, shop.id, "inv1")
        await store.server_joins.record_join(anonymous)
        await store.server_joins.record_join(attributed)
        await store.server_joins.record_leave("g", "m", now=LATER + timedelta(hours=1))
    async with database.read() as store:
        same(await store.server_joins.invite_by_code("inv1"), invite)
        same(await store.server_joins.invite_of(affiliate.id, "g"), invite)
        same(
            await store.server_joins.joins_in("g"),
            [
                ServerJoin("g", "anon", None, None, None, "vanity", "joined", NOW, None),
                ServerJoin(
                    "g",
                    "m",
                    affiliate.id,
                    shop.id,
                    "inv1",
                    None,
                    "left",
                    utc(LATER),
                    utc(LATER + timedelta(hours=1)),
                ),
            ],
        )


async def test_targets(database: Database) -> None:
    async with database.transaction() as store:
        shop = await add_program(store, "shop")
        affiliate = await add_affiliate(store, "1")
        everyone = NewTarget(None, None, "conversions", "absolute", 10, "week")
        own = NewTarget(shop.id, affiliate.id, "revenue", "growth", 1_500, "month")
        await store.targets.replace(None, None, "conversions", everyone, now=NOW, actor="boss")
        await store.targets.replace(shop.id, affiliate.id, "revenue", own, now=LATER, actor="b")
        ended = await store.targets.replace(
            shop.id, affiliate.id, "revenue", own, now=LATER, actor="b"
        )
    assert ended is not None
    expected_own = Target(
        ended.id, shop.id, affiliate.id, "revenue", "growth", 1_500, "month", utc(LATER)
    )
    same(ended, expected_own)
    async with database.read() as store:
        (first, second) = await store.targets.in_force(affiliate_id=affiliate.id)
        same(first, Target(first.id, None, None, "conversions", "absolute", 10, "week", NOW))
        same(second, dataclasses.replace(expected_own, id=second.id))


async def test_reward_roles(database: Database) -> None:
    async with database.transaction() as store:
        affiliate = await add_affiliate(store, "1")
        await store.reward_roles.queue(affiliate.id, ["u1"], ["r1", "r2"], "grant", now=NOW)
        first, second = await store.reward_roles.pending()
        await store.reward_roles.finish(second.id, error="Missing Permissions", now=LATER)
    granted = RoleChange(first.id, affiliate.id, "u1", "r1", "grant", "pending", None, NOW)
    failed = RoleChange(
        second.id, affiliate.id, "u1", "r2", "grant", "failed", "Missing Permissions", NOW
    )
    same(first, granted)
    async with database.read() as store:
        same(await store.reward_roles.pending(), [granted])
        same(await store.reward_roles.problems(), [failed])
        same(await store.reward_roles.history(affiliate.id), [granted, failed])


async def test_rewards(database: Database) -> None:
    async with database.transaction() as store:
        plain = await add_program(store, "plain")
        full = await add_program(store, "full")
        affiliate = await add_affiliate(store, "1")
        await store.rewards.save_rules(RewardRules(plain.id, 0, 0, 0, None, 0), now=NOW)
        await store.rewards.save_rules(RewardRules(full.id, 1, 2, 3, "Welcome!", 14), now=NOW)
        await store.rewards.save_tier(full.id, "gold", 10, 30, 250, 0)
        await store.rewards.save_tier(full.id, "silver", 5, 30, 0, 100)
        (gold, _) = sorted(await store.rewards.tiers(full.id), key=lambda tier: tier.name)
        await store.rewards.record_tier(affiliate.id, full.id, gold, at=NOW, follows=None)
        reached = await store.rewards.tier_at(affiliate.id, full.id, NOW)
        await store.rewards.record_tier(affiliate.id, full.id, None, at=LATER, follows=reached)
        await store.rewards.award_badge(affiliate.id, "first-sale", None, at=NOW)
        await store.rewards.award_badge(affiliate.id, "streak-4", "four weeks", at=LATER)
    assert reached is not None
    defaults = RewardDefaults()
    async with database.read() as store:
        same(
            await store.rewards.rules(plain.id, defaults), RewardRules(plain.id, 0, 0, 0, None, 0)
        )
        same(
            await store.rewards.rules(full.id, defaults),
            RewardRules(full.id, 1, 2, 3, "Welcome!", 14),
        )
        silver, gold = await store.rewards.tiers(full.id)
        same(gold, Tier(gold.id, full.id, "gold", 10, 30, 250, 0))
        same(silver, Tier(silver.id, full.id, "silver", 5, 30, 0, 100))
        same(reached, TierState("gold", 250, 0, NOW, reached.history_id))
        dropped = await store.rewards.tier_at(affiliate.id, full.id, LATER)
        assert dropped is not None
        assert dropped.history_id > reached.history_id
        same(dropped, TierState(None, 0, 0, utc(LATER), dropped.history_id))
        same(
            await store.rewards.badges(affiliate.id),
            [Badge("first-sale", None, NOW), Badge("streak-4", "four weeks", utc(LATER))],
        )


async def test_audit_clicks_outbox_sightings_and_seasons(database: Database) -> None:
    bare_entry = AuditEntry("boss", "program.create", "program:1", None, None, NOW)
    full_entry = AuditEntry(
        "boss", "program.edit", "program:1", {"name": "A"}, {"name": "B", "n": [1]}, utc(LATER)
    )
    entries = [{"rank": 1, "name": "Ann", "value": 3}, {"rank": 2, "name": "Bo", "value": 1}]
    async with database.transaction() as store:
        shop = await add_program(store, "shop")
        affiliate = await add_affiliate(store, "1")
        link = await store.links.ensure(affiliate.id, shop.id, "", now=NOW)
        await store.audit.record(bare_entry)
        await store.audit.record(full_entry)
        await store.clicks.add_many(
            [
                new_click(
                    click_id="c1",
                    link_id=link.id,
                    occurred_at=LATER,
                    ip_hash="a" * 64,
                    user_agent_family="Firefox",
                    referer_host=None,
                )
            ]
        )
        await store.outbox.enqueue(
            [
                OutgoingMessage("k1", "telegram", "chat", "-100", {}),
                OutgoingMessage("k2", "telegram", "user", "7", {"title": "Hi", "n": [1]}, "b1"),
            ],
            now=NOW,
        )
        # lease_until is the caller's ``now`` plus the lease, not a column read back.
        claimed = await store.outbox.claim(
            "telegram", now=utc(LATER), limit=10, lease=timedelta(minutes=5)
        )
        await store.sightings.record(affiliate.id, "b" * 64, now=NOW)
        await store.sightings.record(affiliate.id, "b" * 64, now=LATER)
        await store.weekly.save_season("2026-W46", "all", NOW, LATER, [], now=NOW)
        posted = await store.weekly.save_season("2026-W47", "shop", NOW, LATER, entries, now=LATER)
    lease_until = utc(LATER) + timedelta(minutes=5)
    same(
        claimed,
        [
            ClaimedMessage(claimed[0].id, "k1", "telegram", "chat", "-100", {}, 1, lease_until),
            ClaimedMessage(
                claimed[1].id,
                "k2",
                "telegram",
                "user",
                "7",
                {"title": "Hi", "n": [1]},
                1,
                lease_until,
            ),
        ],
    )
    week = Season("2026-W47", "shop", NOW, utc(LATER), entries, utc(LATER))
    same(posted, week)
    async with database.read() as store:
        same(await store.audit.recent(), [full_entry, bare_entry])
        same(
            await store.clicks.by_click_id("c1"),
            ClickRef("c1", link.id, affiliate.id, shop.id, utc(LATER), "a" * 64),
        )
        same(
            await store.sightings.find(affiliate.id, "b" * 64),
            Sighting(affiliate.id, "b" * 64, NOW, utc(LATER)),
        )
        same(
            await store.weekly.season("2026-W46"),
            Season("2026-W46", "all", NOW, utc(LATER), [], NOW),
        )
        same(await store.weekly.season("2026-W47", "shop"), week)


@dataclasses.dataclass(frozen=True, slots=True)
class _Codes:
    code: str
    campaigns: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class _Named:
    code: str
    label: str


async def test_the_mapping_refuses_what_it_cannot_map_faithfully(database: Database) -> None:
    async with database.transaction() as store:
        shop = await add_program(store, "shop")
        affiliate = await add_affiliate(store, "1")
        link = await store.links.ensure(affiliate.id, shop.id, "", now=NOW)
        row = (await store.connection.execute(select(links))).one()
    # A container with no declared conversion would hold the driver's value as it came.
    with pytest.raises(TypeError, match="campaigns"):
        from_row(_Codes, row)
    with pytest.raises(TypeError, match="no field nickname"):
        from_row(_Named, row, label="x", nickname="y")
    with pytest.raises(KeyError, match="label"):
        from_row(_Named, row)
    assert from_row(_Named, row, label="x") == _Named(link.code, "x")
