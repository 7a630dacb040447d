"""Server joins and personal invites on every engine: once per member, once per affiliate
and server, even when two handlers race."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from storage import Database
from storage.programs import Commission, NewProgram
from storage.server_joins import NewJoin, ServerInvite

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


async def setup(database: Database) -> tuple[int, int]:
    async with database.transaction() as store:
        program = await store.programs.add(
            NewProgram(
                slug="shop",
                name="Shop",
                destination_url="https://shop.example/",
                currency="USD",
                commission=Commission("percent", 1000, "USD", NOW),
                attribution_days=7,
            ),
            now=NOW,
            actor="t",
        )
        affiliate = await store.affiliates.ensure_for_identity("discord", "1", "Ann", now=NOW)
    return program.id, affiliate.id


async def test_a_member_is_recorded_once_even_when_raced(database: Database) -> None:
    program_id, affiliate_id = await setup(database)

    async def record() -> bool:
        async with database.transaction() as store:
            _, created = await store.server_joins.record_join(
                NewJoin("g", "m", NOW, affiliate_id, program_id, "code")
            )
        return created

    results = await asyncio.gather(*(record() for _ in range(4)))
    assert sorted(results) == [False, False, False, True]
    async with database.read() as store:
        (join,) = await store.server_joins.joins_in("g")
        counts = await store.server_joins.counts_for_affiliate(affiliate_id)
    assert (join.affiliate_id, join.status) == (affiliate_id, "joined")
    assert (counts.joined, counts.left) == (1, 0)


async def test_the_first_stored_invite_wins(database: Database) -> None:
    program_id, affiliate_id = await setup(database)
    async with database.transaction() as store:
        first = await store.server_joins.save_invite(
            ServerInvite("aaa", "g", "c", affiliate_id, program_id, NOW)
        )
        second = await store.server_joins.save_invite(
            ServerInvite("bbb", "g", "c", affiliate_id, program_id, NOW)
        )
        elsewhere = await store.server_joins.save_invite(
            ServerInvite("ccc", "other", "c", affiliate_id, program_id, NOW)
        )
    assert (first.code, second.code, elsewhere.code) == ("aaa", "aaa", "ccc")
    async with database.read() as store:
        assert await store.server_joins.invite_by_code("bbb") is None


async def test_leaves_count_only_within_the_program_window(database: Database) -> None:
    program_id, affiliate_id = await setup(database)
    async with database.transaction() as store:
        for member in ("early", "late"):
            await store.server_joins.record_join(
                NewJoin("g", member, NOW, affiliate_id, program_id, "code")
            )
        await store.server_joins.record_join(NewJoin("g", "anon", NOW, None, None, None, "vanity"))
    async with database.transaction() as store:
        early = await store.server_joins.record_leave("g", "early", now=NOW + timedelta(days=6))
        late = await store.server_joins.record_leave("g", "late", now=NOW + timedelta(days=8))
        anon = await store.server_joins.record_leave("g", "anon", now=NOW + timedelta(days=8))
        stranger = await store.server_joins.record_leave("g", "nobody", now=NOW)
    assert early is not None
    assert (early.status, early.left_at) == ("left", NOW + timedelta(days=6))
    assert late is not None
    assert late.status == "joined"  # 7-day window: a kept member
    assert anon is not None
    assert anon.status == "left"  # unattributed joins use 30 days
    assert stranger is None


async def test_enabling_invites_keeps_other_program_settings(database: Database) -> None:
    program_id, _ = await setup(database)
    async with database.transaction() as store:
        await store.server_joins.set_program_invites(program_id, True, now=NOW)
        await store.server_joins.set_program_invites(program_id, True, now=NOW)
    async with database.read() as store:
        program = await store.programs.get(program_id)
    assert program is not None
    assert program.settings == {"discord_invites": True}
