"""Where the merged issues meet in commands: reachability, posted seasons, /stats and
/report additions, program switches, role pings and complete feedback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from bot.adapters.discord.render import render as discord_render
from bot.adapters.telegram.render import render as telegram_render
from commands.broadcasts.feedback import feedback_messages
from commands.broadcasts.weekly_post import leaderboard_messages
from commands.core.calendar import period
from commands.core.dispatcher import Dispatcher
from commands.core.invocation import Actor, ChatKind, Services
from commands.core.reply import Reply
from storage import Database
from storage.outbox import OutgoingMessage
from storage.schema import identities
from storage.server_joins import NewJoin, ServerInvite
from tests.activity import add_clicks, add_conversions, add_member, add_program
from tests.conftest import Chat, Clock
from tests.fakes.discord_harness import Bot, running_bot

UTC_ZONE = ZoneInfo("UTC")
ROLE = "123456789012345678"


async def mark_unreachable(database: Database, user: str, clock: Clock) -> None:
    async with database.transaction() as store:
        await store.connection.execute(
            update(identities)
            .where(identities.c.platform_user_id == user)
            .values(unreachable_at=clock(), unreachable_reason="blocked")
        )


async def identity_row(database: Database, user: str) -> tuple[object, object]:
    async with database.read() as store:
        row = (
            await store.connection.execute(
                identities.select().where(identities.c.platform_user_id == user)
            )
        ).one()
    return row.unreachable_at, row.last_seen_at


async def test_any_command_makes_an_account_reachable_and_others_write_nothing(
    database: Database, clock: Clock, alice: Chat, bob: Chat
) -> None:
    program = await add_program(database, clock())
    await add_member(database, clock(), program, "Alice", user_id="alice")
    await add_member(database, clock(), program, "Bob", user_id="bob")
    await mark_unreachable(database, "alice", clock)
    _, bob_seen = await identity_row(database, "bob")
    clock.advance(hours=1)
    await alice("/help")  # not even an affiliate command
    await bob("/help")
    unreachable, _ = await identity_row(database, "alice")
    assert unreachable is None
    # Bob was never marked: his command read, it did not write.
    assert (await identity_row(database, "bob")) == (None, bob_seen)
    async with database.read() as store:
        assert not await store.affiliates.is_unreachable("console", "alice")


async def test_last_week_shows_the_posted_season_not_a_recount(
    database: Database, clock: Clock, dispatcher: Dispatcher
) -> None:
    program = await add_program(database, clock())
    ann = await add_member(database, clock(), program, "Ann")
    ben = await add_member(database, clock(), program, "Ben")
    last_week = datetime(2026, 11, 10, 12, tzinfo=UTC)
    await add_conversions(database, ann, [last_week] * 3)
    await add_conversions(database, ben, [last_week] * 2)
    span = period("last-week", clock(), UTC_ZONE)
    async with database.transaction() as store:
        await leaderboard_messages(store, span, UTC_ZONE, [], now=clock(), broadcast_key="b")
    # Late conversions for last week arrive after the post.
    await add_conversions(database, ben, [last_week] * 5)
    replies = await dispatcher.execute_line(
        "/leaderboard last-week", Actor("console", "ann", "Ann"), ChatKind.GROUP
    )
    board, own = replies
    assert board.title == "Leaderboard, week 46 (09 Nov–15 Nov 2026)"
    assert board.table is not None
    assert [row[1:3] for row in board.table.rows] == [("Ann", "3"), ("Ben", "2")]
    assert own.text == "You were #1 with 3 conversions."
    assert own.private
    # Other metrics and live periods are computed as before.
    (live, _) = await dispatcher.execute_line(
        "/leaderboard last-week revenue", Actor("console", "ann", "Ann"), ChatKind.GROUP
    )
    assert live.title != board.title


async def test_stats_shows_unique_clicks_and_server_joins(
    database: Database, clock: Clock, alice: Chat
) -> None:
    program = await add_program(database, clock())
    member = await add_member(database, clock(), program, "Alice", user_id="alice")
    await add_clicks(database, member, [clock() - timedelta(hours=1)] * 4)
    async with database.transaction() as store:
        invite = await store.server_joins.save_invite(
            ServerInvite(
                code="abc",
                affiliate_id=member.affiliate_id,
                program_id=program,
                guild_id="1",
                channel_id="2",
                created_at=clock(),
            )
        )
        await store.server_joins.record_join(
            NewJoin(
                guild_id="1",
                member_id="77",
                affiliate_id=member.affiliate_id,
                program_id=program,
                invite_code=invite.code,
                joined_at=clock() - timedelta(hours=1),
            )
        )
    reply = await alice("/stats")
    assert reply.table is not None
    assert reply.table.headers[1:3] == ("clicks", "unique")
    # The test clicks share one ip hash and user agent: one unique visitor.
    assert reply.table.rows[0][1:3] == ("4", "1")
    joins = {f.name: f.value for f in reply.fields}["Server joins"]
    assert joins.startswith("1 joined through your invites.")
    assert "joins earn no commission" in joins


async def test_report_shows_how_the_last_broadcast_went(
    database: Database, clock: Clock, manager: Chat
) -> None:
    await add_program(database, clock())
    async with database.transaction() as store:
        await store.outbox.enqueue(
            [
                OutgoingMessage(
                    f"b:{n}", "telegram", "user", str(n), Reply(text="x").to_json(), "b"
                )
                for n in range(3)
            ],
            now=clock(),
        )
    reply = await manager("/report")
    fields = {f.name: f.value for f in reply.fields}
    assert fields["Last broadcast"] == (
        "0 sent, 3 queued, 0 not delivered (0 unreachable). Details: /delivery"
    )


async def test_program_switches_are_validated_and_audited(
    database: Database, clock: Clock, manager: Chat
) -> None:
    await add_program(database, clock())
    on = await manager("/program set shop signup_referrals on")
    assert on.text == "Signup referrals through Telegram deep links are on."
    off = await manager("/program set shop discord_invites off")
    assert off.text == "Personal Discord server invites with /link are off."
    bad = await manager("/program set shop discord_invites maybe")
    assert bad.text.startswith("The discord_invites setting is on or off.")
    async with database.read() as store:
        found = await store.programs.by_slug("shop")
        entries = await store.audit.recent(limit=5)
    assert found is not None
    assert found.settings["signup_referrals"] is True
    assert found.settings["discord_invites"] is False
    actions = [entry.action for entry in entries]
    assert "program.set.signup_referrals" in actions
    assert "program.set.discord_invites" in actions
    (audited,) = [e for e in entries if e.action == "program.set.signup_referrals"]
    assert audited.before is not None
    assert audited.after is not None
    assert (audited.before["signup_referrals"], audited.after["signup_referrals"]) == (False, True)


def pinging(services: Services, role: str | None) -> Chat:
    settings = replace(services.settings, announce_targets=(("discord", "555"),))
    settings = replace(settings, announce_ping_role=role)
    changed = replace(services, settings=settings)
    return Chat(Dispatcher(changed.registry, changed), Actor("console", "boss", "B", True))


async def test_announce_ping_carries_the_configured_role_to_channel_posts_only(
    services: Services, database: Database, clock: Clock
) -> None:
    program = await add_program(database, clock())
    await add_member(database, clock(), program, "Alice", user_id="alice")
    refused = await pinging(services, None)("/announce Contest! --ping")
    assert "No announcement role is configured" in refused.text
    await pinging(services, ROLE)("/announce Contest! --ping --dm")
    async with database.read() as store:
        post = await store.outbox.by_key(
            next(k for k in await _keys(database) if k.endswith(":discord:chat:555"))
        )
        dm = await store.outbox.by_key(
            next(k for k in await _keys(database) if k.endswith(":user:alice"))
        )
    assert post is not None
    assert dm is not None
    assert Reply.from_json(post["payload"]).mention_role == ROLE
    assert Reply.from_json(dm["payload"]).mention_role is None


async def _keys(database: Database) -> list[str]:
    from storage.schema import outbox

    async with database.read() as store:
        return [row.dedupe_key for row in await store.connection.execute(outbox.select())]


def test_mention_role_round_trips_and_only_discord_renders_it() -> None:
    reply = Reply(title="News", text="Hello <@&1> @everyone", mention_role=ROLE)
    assert Reply.from_json(reply.to_json()) == reply
    assert Reply.from_json({"text": "old row"}).mention_role is None
    telegram = telegram_render(reply)
    assert ROLE not in repr(telegram)


@pytest.fixture
async def bot(services: Services) -> AsyncIterator[Bot]:
    async with running_bot(services, track_invites=False) as running:
        yield running


async def test_discord_pings_exactly_the_asked_role(bot: Bot) -> None:
    channel_id = bot.guild.system_channel_id
    assert channel_id is not None
    reply = Reply(title="News", text="Big news <@&999999999999999999>", mention_role=ROLE)
    await bot.adapter.sender.send("chat", channel_id, reply, dedupe_key="announce:1")
    await bot.adapter.sender.send("chat", channel_id, Reply(text="plain"), dedupe_key="p:1")
    pinged, plain = bot.fake.channel_messages(channel_id)
    assert pinged.body["content"] == f"<@&{ROLE}>"
    assert pinged.allowed_mentions is not None
    assert pinged.allowed_mentions["parse"] == []
    assert [str(role) for role in pinged.allowed_mentions["roles"]] == [ROLE]
    assert "<@\u200b&999999999999999999>" in pinged.embed["description"]
    assert plain.allowed_mentions == {"parse": []}
    assert not plain.body.get("content")
    # Anything that is not a role id pings nobody.
    assert discord_render(Reply(text="x", mention_role="@everyone")).ping_role is None


async def test_feedback_shows_targets_caps_and_pacing(
    database: Database, clock: Clock, manager: Chat
) -> None:
    clock.now = datetime(2026, 11, 23, 10, tzinfo=UTC)  # Monday: feedback for week 47
    program = await add_program(database, clock())
    member = await add_member(database, clock(), program, "Alice", user_id="alice")
    last_week = [datetime(2026, 11, 16 + day, 12, tzinfo=UTC) for day in range(7)]
    await add_clicks(database, member, last_week * 10)
    await add_conversions(database, member, last_week)  # 7 in the week, 1 a day
    await add_conversions(database, member, [datetime(2026, 11, 23, 9, tzinfo=UTC)] * 2)
    await manager("/target conversions 10 week")
    await manager("/cap set shop 10 month conversions notify")
    span = period("last-week", clock(), UTC_ZONE)
    async with database.transaction() as store:
        (message,) = await feedback_messages(
            store, span, UTC_ZONE, platforms={"console"}, now=clock(), broadcast_key="f"
        )
    fields = {f.name: f.value for f in Reply.from_json(message.payload).fields}
    assert fields["Targets"] == "7 of 10 conversions a week (70%)"
    assert fields["Cap usage"] == "shop: 9 of 10 conversions a month (90%)"
    # 1 left at last week's pace of one a day: reached tomorrow.
    assert fields["Cap pacing"] == (
        "shop (10 conversions a month): at last week's rate reached on Tue 24 Nov"
    )
