"""Campaign links reported in /stats (own), /report (managers) and the exports
(issue 16, bug 14: /help link promised it, nothing showed it)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from commands.core.reply import Reply
from commands.reporting.export import export_table
from storage import Database
from storage.schema import conversions
from tests.activity import Member, add_clicks, add_conversions
from tests.conftest import Chat, Clock

UTC_ZONE = ZoneInfo("UTC")


def fields(reply: Reply) -> dict[str, str]:
    return {field.name: field.value for field in reply.fields}


async def _member(database: Database, user: str, campaign: str, clock: Clock) -> Member:
    async with database.transaction() as store:
        affiliate = await store.affiliates.by_identity("console", user)
        program = await store.programs.by_slug("shop")
        assert affiliate is not None
        assert program is not None
        link = await store.links.ensure(affiliate.id, program.id, campaign, now=clock())
    return Member(affiliate.id, link.id, program.id, user)


async def test_campaigns_in_stats_report_and_exports(
    manager: Chat, alice: Chat, bob: Chat, database: Database, clock: Clock
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await alice("/join shop")
    await bob("/join shop")
    hour_ago = clock.now - timedelta(hours=1)
    youtube = await _member(database, "alice", "youtube", clock)
    plain = await _member(database, "alice", "", clock)
    blog = await _member(database, "alice", "blog", clock)
    bobs = await _member(database, "bob", "youtube", clock)
    for member, clicks, sales in ((youtube, 10, 2), (plain, 4, 1), (blog, 3, 0), (bobs, 5, 1)):
        await add_clicks(database, member, [hour_ago] * clicks)
        await add_conversions(database, member, [hour_ago] * sales)
    await add_conversions(database, youtube, [hour_ago], status="reversed")  # counts nothing
    async with database.transaction() as store:  # over the cap: a conversion, no money
        await store.connection.execute(
            conversions.insert().values(
                program_id=youtube.program_id,
                affiliate_id=youtube.affiliate_id,
                link_id=youtube.link_id,
                txn_id="over",
                amount_minor=5000,
                currency="USD",
                commission_minor=500,
                status="approved",
                over_cap=True,
                occurred_at=hour_ago,
                created_at=hour_ago,
                updated_at=hour_ago,
            )
        )

    own = fields(await alice("/stats"))["Campaigns"]
    assert own.splitlines() == [
        "shop (no campaign): 4 clicks, 1 conversion, 5.00 USD earned",
        "shop blog: 3 clicks, 0 conversions, 0.00 USD earned",
        "shop youtube: 10 clicks, 3 conversions, 10.00 USD earned",
    ]
    # Bob sees his own campaign only, never Alice's.
    assert fields(await bob("/stats"))["Campaigns"] == (
        "shop youtube: 5 clicks, 1 conversion, 5.00 USD earned"
    )

    report = await manager("/report")
    assert report.private
    assert fields(report)["Campaigns"].splitlines() == [
        "shop youtube: 15 clicks, 4 conversions, 200.00 USD revenue, 15.00 USD commission "
        "(2 affiliates)",
        "shop (no campaign): 4 clicks, 1 conversion, 50.00 USD revenue, 5.00 USD commission "
        "(1 affiliate)",
        "shop blog: 3 clicks, 0 conversions, 0.00 USD revenue, 0.00 USD commission (1 affiliate)",
    ]

    exported = await export_table(database, "conversions", now=clock(), zone=UTC_ZONE)
    assert exported.headers[-1] == "campaign"
    assert sorted(row[-1] for row in exported.rows) == [
        "",
        "youtube",
        "youtube",
        "youtube",
        "youtube",
        "youtube",
    ]
    per_campaign = await export_table(database, "campaigns", now=clock(), zone=UTC_ZONE)
    assert per_campaign.headers == (
        "affiliate_id",
        "name",
        "program",
        "campaign",
        "clicks",
        "conversions",
        "revenue",
        "commission",
        "currency",
    )
    assert [row[1:] for row in per_campaign.rows] == [
        ("Alice", "shop", "", "4", "1", "50.00", "5.00", "USD"),
        ("Alice", "shop", "blog", "3", "0", "0.00", "0.00", "USD"),
        ("Alice", "shop", "youtube", "10", "3", "150.00", "10.00", "USD"),
        ("Bob", "shop", "youtube", "5", "1", "50.00", "5.00", "USD"),
    ]


async def test_plain_links_only_add_no_campaign_lines(
    manager: Chat, alice: Chat, database: Database, clock: Clock
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await alice("/join shop")
    plain = await _member(database, "alice", "", clock)
    await add_clicks(database, plain, [clock.now - timedelta(hours=1)] * 2)
    assert "Campaigns" not in fields(await alice("/stats"))
    assert "Campaigns" not in fields(await manager("/report"))
