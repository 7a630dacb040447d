"""Affiliate commands through the console adapter (piped input) and the dispatcher."""

from __future__ import annotations

from datetime import timedelta

from commands.core.dispatcher import Dispatcher
from commands.core.invocation import Actor, ChatKind
from storage import Database
from storage.schema import caps
from tests.conftest import Chat, Clock
from tests.core_seed import add_clicks, add_conversion, console


async def setup_shop(manager: Chat, *, approval: bool = False) -> None:
    flag = " --approval" if approval else ""
    reply = await manager(f'/program add shop https://shop.example/ 10% "The Shop"{flag}')
    assert reply.title == "Program shop created"


async def test_affiliate_journey_through_the_console(
    dispatcher: Dispatcher, manager: Chat
) -> None:
    await setup_shop(manager)
    await manager('/program edit shop --guidelines "No spam." --sample-post "Great deals"')
    out = await console(
        dispatcher,
        "/join shop\n/link shop\n/link shop youtube\n/stats\n/earnings\n/rewards\n"
        "/materials shop\n/settings\n/programs\n",
        user="alice",
    )
    assert "== Welcome to The Shop ==" in out
    assert "Link: https://go.example.test/r/" in out
    assert "Campaign: youtube" in out

    assert "No clicks or conversions this month yet." in out
    assert "No commission yet." in out
    assert "Next milestone: 1 more approved conversion to the first-conversion badge" in out
    assert "Guidelines: No spam." in out
    assert "Sample post 1: Great deals" in out
    assert "Share text: Great deals https://go.example.test/r/" in out
    assert "visibility: public" in out
    assert "shop     The Shop  10% of the sale  none  30 days  instant" in out
    assert out.count("(private: only you can see this)") >= 6


async def test_affiliate_commands_ask_strangers_to_join_first(dispatcher: Dispatcher) -> None:
    out = await console(dispatcher, "/stats\n/earnings\n/settings\n/rewards\n", user="zed")
    assert out.count("You are not an affiliate yet.") == 4


async def test_stats_show_every_metric(
    dispatcher: Dispatcher,
    manager: Chat,
    alice: Chat,
    bob: Chat,
    database: Database,
    clock: Clock,
) -> None:
    await setup_shop(manager)
    await alice("/join shop")
    await bob("/join shop")
    now = clock.now
    await add_clicks(database, "alice", "shop", 40, now - timedelta(days=1))
    for _ in range(4):
        await add_conversion(database, "alice", "shop", at=now - timedelta(days=1))
    await add_conversion(
        database, "alice", "shop", at=now - timedelta(days=2), status="approved", commission=2000
    )
    await add_conversion(database, "alice", "shop", at=now - timedelta(days=3), status="reversed")
    for _ in range(6):
        await add_conversion(database, "bob", "shop", at=now - timedelta(days=1))
    # Last month, same stretch (Oct 1-18): 2 conversions and 20 clicks.
    await add_clicks(database, "alice", "shop", 20, now - timedelta(days=33))
    for _ in range(2):
        await add_conversion(database, "alice", "shop", at=now - timedelta(days=33))
    await manager("/target conversions 10 month")
    await manager("/target clicks +50% month alice")
    async with database.writing() as connection:
        program_id = (await connection.exec_driver_sql("SELECT id FROM programs")).scalar_one()
        await connection.execute(
            caps.insert().values(
                program_id=program_id,
                scope="program",
                metric="conversions",
                period="month",
                limit_value=100,
                action="notify",
                alert_percents=[80, 100],
                effective_from=now - timedelta(days=30),
            )
        )
    listing = await alice("/programs")
    assert listing.table is not None
    assert listing.table.rows[0][3] == "100 conversions a month"
    reply = await alice("/stats")
    assert reply.private
    assert reply.table is not None
    assert reply.table.rows == (
        # 40 clicks from one test visitor: 1 unique.
        ("shop", "40", "1", "5", "12.5%", "500.00 USD", "40.00 USD", "20.00 USD", "1.50 USD"),
    )
    fields = {field.name: field.value for field in reply.fields}
    assert fields["Rank"] == "#2 of 2 by conversions"
    assert fields["Change"].startswith(
        "clicks 40 (+100%, was 20); conversions 5 (+150%, was 2); commission 60.00 USD"
    )
    assert "5 of 10 conversions a month (50%)" in fields["Targets"]
    assert "+50% clicks vs last month: +100% so far" in fields["Targets"]
    assert fields["Caps"] == "shop: 11 of 100 conversions a month (11%)"
    # Bob's numbers never show in Alice's reply.
    assert "6" not in "".join(reply.table.rows[0][1:3])


async def test_leaderboard_ties_opt_outs_and_own_position(
    dispatcher: Dispatcher, manager: Chat, database: Database, clock: Clock
) -> None:
    await setup_shop(manager)
    names = ["ann", "ben", "cat", "dan", "eve"]
    counts = [5, 3, 3, 2, 1]
    for name, count in zip(names, counts, strict=True):
        await console(dispatcher, "/join shop\n", user=name)
        for _ in range(count):
            await add_conversion(database, name, "shop", at=clock.now - timedelta(hours=1))
    await console(dispatcher, "/settings visibility alias\n", user="ben")
    await console(dispatcher, "/settings alias BigBen\n/settings visibility alias\n", user="cat")
    await console(dispatcher, "/settings visibility hidden\n", user="ann")
    cat = Actor("console", "cat", "cat")
    replies = await dispatcher.execute_line("/leaderboard", cat, ChatKind.GROUP)
    assert len(replies) == 2
    public, own = replies
    assert not public.private
    assert public.table is not None
    # ann is hidden: her place is kept without her name, so everyone sees the same ranks.
    assert public.table.rows == (
        ("#1", "(hidden)", "5"),
        ("#2", "anonymous", "3"),
        ("#2", "BigBen", "3"),
        ("#4", "dan", "2"),
        ("#5", "eve", "1"),
    )
    assert own.private
    assert own.text == "You are #2 of 5 with 3 conversions."
    ann = Actor("console", "ann", "ann")
    board, hidden = await dispatcher.execute_line("/leaderboard month", ann, ChatKind.GROUP)
    assert board.table == public.table
    assert hidden.text == (
        "You are #1 of 5 with 5 conversions. "
        "Your name is hidden on the public board (see /settings)."
    )
    stranger = Actor("console", "zed", "zed")
    assert len(await dispatcher.execute_line("/leaderboard", stranger, ChatKind.GROUP)) == 1


async def test_leaderboard_by_money_and_bad_input(
    dispatcher: Dispatcher, manager: Chat, alice: Chat, database: Database, clock: Clock
) -> None:
    await setup_shop(manager)
    await manager("/program add euro https://eu.example/ 5 EUR")
    await alice("/join shop")
    await add_conversion(
        database, "alice", "shop", at=clock.now - timedelta(minutes=1), amount=12345
    )
    out = await console(
        dispatcher,
        "/leaderboard week revenue shop\n/leaderboard week revenue\n/leaderboard year\n"
        "/leaderboard week clicks nope\n",
        user="alice",
    )
    assert "#1    Alice      123.45 USD" in out
    assert "Programs pay in different currencies (EUR, USD); name a program" in out
    assert "Period must be one of: today, week, last-week, month, last-month, all." in out
    assert "Usage: /leaderboard [period]" in out
    assert 'There is no program called "nope".' in out


async def test_earnings_by_status_and_next_payout(
    manager: Chat, alice: Chat, database: Database, clock: Clock
) -> None:
    await setup_shop(manager)
    await manager("/program edit shop --holding-days 14 --min-payout 25")
    await alice("/join shop")
    now = clock.now
    await add_conversion(database, "alice", "shop", at=now, status="pending", commission=500)
    await add_conversion(
        database, "alice", "shop", at=now - timedelta(days=3), status="approved", commission=700
    )
    await add_conversion(
        database, "alice", "shop", at=now - timedelta(days=20), status="approved", commission=900
    )
    await add_conversion(database, "alice", "shop", at=now, status="paid", commission=300)
    await add_conversion(database, "alice", "shop", at=now, status="reversed", commission=100)
    reply = await alice("/earnings")
    assert reply.private
    assert reply.table is not None
    assert reply.table.rows == (
        ("shop", "5.00 USD", "7.00 USD", "9.00 USD", "3.00 USD", "1.00 USD"),
    )
    fields = {field.name: field.value for field in reply.fields}
    assert fields["Next payout"] == (
        "shop: held commission becomes payable from 2026-11-29 (minimum payout 25.00 USD)"
    )
    await manager("/program edit shop --min-payout 5")
    reply = await alice("/earnings")
    assert "shop: 9.00 USD is payable now" in reply.fields[0].value


async def test_suspended_affiliate_sees_numbers_but_gets_no_links(
    dispatcher: Dispatcher, manager: Chat, alice: Chat
) -> None:
    await setup_shop(manager)
    await alice("/join shop")
    await manager("/suspend alice spam")
    out = await console(dispatcher, "/stats\n/earnings\n/link shop\n/join shop\n", user="alice")
    assert "== Your stats, this month ==" in out
    assert "== Your earnings ==" in out
    assert "Your affiliate account is suspended, so no new links can be given out." in out
    assert "Your affiliate account is suspended, so you cannot join programs." in out


async def test_join_pending_then_link_refused_until_approved(manager: Chat, alice: Chat) -> None:
    await setup_shop(manager, approval=True)
    reply = await alice("/join shop")
    assert "a manager will decide soon" in reply.text
    assert "links come once you are approved" in (await alice("/link shop")).text
    await manager("/approve alice")
    link = await alice("/link shop")
    assert link.title == "Your link for The Shop"
    share = {field.name: field.value for field in link.fields}["Share text"]
    assert share.startswith("Check out The Shop: https://go.example.test/r/")


async def test_materials_lists_every_program_of_the_caller(
    dispatcher: Dispatcher, manager: Chat, alice: Chat
) -> None:
    await setup_shop(manager)
    await manager("/program add app https://app.example/ 5 USD")
    await manager("/program edit app --banner https://cdn.example/a.png")
    await alice("/join shop")
    await alice("/join app")
    replies = await dispatcher.execute_line("/materials", alice.actor, ChatKind.PRIVATE)
    assert [reply.title for reply in replies] == ["Materials for app", "Materials for The Shop"]
    assert replies[0].buttons[0].url == "https://cdn.example/a.png"
    assert replies[1].text.startswith("No materials yet.")
    assert 'There is no open program called "nope".' in (await alice("/materials nope")).text
    stranger = await console(dispatcher, "/materials\n", user="zed")
    assert "join one first" in stranger
