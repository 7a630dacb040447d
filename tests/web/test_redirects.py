"""Referral redirects over real HTTP: destinations, templates, fallbacks, no open redirect."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from sqlalchemy import update

from bot.web import TRACKING
from commands.core.invocation import Services
from storage import Database
from storage.schema import affiliates
from tests.conftest import Clock
from tests.tracking_support import EARLY, running, seed

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


async def test_redirect_appends_click_id_and_ref_to_existing_query(
    services: Services, database: Database
) -> None:
    seeded = await seed(database)
    async with running(services) as client:
        response = await client.get(
            f"/r/{seeded.link.code}", allow_redirects=False, headers={"User-Agent": BROWSER}
        )
        assert response.status == 302
        assert response.headers["Cache-Control"] == "no-store"
        location = urlsplit(response.headers["Location"])
        assert (location.scheme, location.netloc, location.path) == (
            "https",
            "shop.example",
            "/landing",
        )
        query = parse_qs(location.query)
        assert query["lang"] == ["en"]
        assert query["ref"] == [seeded.link.code]
        assert len(query["click_id"][0]) == 32
        second = await client.get(f"/r/{seeded.link.code}", allow_redirects=False)
        assert (
            parse_qs(urlsplit(second.headers["Location"]).query)["click_id"] != query["click_id"]
        )


async def test_destination_template_placeholders_are_filled(
    services: Services, database: Database
) -> None:
    seeded = await seed(
        database,
        destination="https://track.example/c/{code}?sub1={click_id}&aff={affiliate}&cmp={campaign}",
        campaign="yt",
    )
    async with running(services) as client:
        response = await client.get(f"/r/{seeded.link.code}", allow_redirects=False)
    location = response.headers["Location"]
    assert location.startswith(f"https://track.example/c/{seeded.link.code}?sub1=")
    query = parse_qs(urlsplit(location).query)
    assert query["aff"] == [str(seeded.affiliate.id)]
    assert query["cmp"] == ["yt"]
    assert "ref" not in query


async def test_unknown_code_is_a_404_page(services: Services, database: Database) -> None:
    async with running(services) as client:
        for code in ("nope", "x" * 200, "%3Cscript%3E"):
            response = await client.get(f"/r/{code}", allow_redirects=False)
            assert response.status == 404
            assert "<script>" not in await response.text()


async def test_query_parameters_never_change_the_destination(
    services: Services, database: Database
) -> None:
    seeded = await seed(database)
    async with running(services) as client:
        response = await client.get(
            f"/r/{seeded.link.code}?url=https://evil.example/&next=//evil.example",
            allow_redirects=False,
        )
    assert urlsplit(response.headers["Location"]).netloc == "shop.example"
    assert "evil" not in response.headers["Location"]


async def test_paused_program_goes_to_fallback_or_410(
    services: Services, database: Database, clock: Clock
) -> None:
    with_fallback = await seed(database, fallback="https://shop.example/soon")
    without = await seed(database, slug="other", destination="https://other.example/")
    async with database.transaction() as store:
        await store.programs.set_status(with_fallback.program.id, "paused", now=EARLY)
        await store.programs.set_status(without.program.id, "paused", now=EARLY)
    async with running(services) as client:
        response = await client.get(f"/r/{with_fallback.link.code}", allow_redirects=False)
        assert response.status == 302
        assert response.headers["Location"] == "https://shop.example/soon"
        gone = await client.get(f"/r/{without.link.code}", allow_redirects=False)
        assert gone.status == 410
        await client.app[TRACKING].buffer.flush()
    async with database.read() as store:
        assert await store.clicks.count() == 0


async def test_suspended_affiliate_goes_to_fallback(
    services: Services, database: Database
) -> None:
    seeded = await seed(database, fallback="https://shop.example/soon")
    async with database.transaction() as store:
        await store.connection.execute(
            update(affiliates)
            .where(affiliates.c.id == seeded.affiliate.id)
            .values(status="suspended")
        )
    async with running(services) as client:
        response = await client.get(f"/r/{seeded.link.code}", allow_redirects=False)
    assert response.headers["Location"] == "https://shop.example/soon"


async def test_head_requests_redirect_without_counting(
    services: Services, database: Database
) -> None:
    seeded = await seed(database)
    async with running(services) as client:
        response = await client.head(f"/r/{seeded.link.code}", allow_redirects=False)
        assert response.status == 302
    async with database.read() as store:
        assert await store.clicks.count() == 0


async def test_click_parameters_go_before_a_fragment(
    services: Services, database: Database
) -> None:
    seeded = await seed(database, destination="https://shop.example/page#offer")
    async with running(services) as client:
        response = await client.get(f"/r/{seeded.link.code}", allow_redirects=False)
    location = urlsplit(response.headers["Location"])
    assert location.fragment == "offer"
    assert parse_qs(location.query)["ref"] == [seeded.link.code]
