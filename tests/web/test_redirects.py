"""Referral redirects over real HTTP: destinations, templates, fallbacks, no open redirect."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import update

from bot.web import TRACKING
from commands.core.invocation import Services
from storage import Database
from storage.schema import affiliates
from tests.conftest import Chat, Clock
from tests.tracking_support import EARLY, FAST, running, seed

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


async def test_paused_program_goes_to_fallback_or_its_plain_page(
    services: Services, database: Database, clock: Clock
) -> None:
    """Issue 16, bug 10: paused without a fallback answered 410 while /help and the
    affiliates' notice said clicks are redirected. Now: to the program's page, with no
    click id or per-click parts, and the visit is not counted."""
    with_fallback = await seed(database, fallback="https://shop.example/soon")
    without = await seed(
        database,
        slug="other",
        destination="https://other.example/deals?src=aff&sub={click_id}&ref={code}#top",
    )
    async with database.transaction() as store:
        await store.programs.set_status(with_fallback.program.id, "paused", now=EARLY)
        await store.programs.set_status(without.program.id, "paused", now=EARLY)
    async with running(services) as client:
        response = await client.get(f"/r/{with_fallback.link.code}", allow_redirects=False)
        assert response.status == 302
        assert response.headers["Location"] == "https://shop.example/soon"
        landing = await client.get(f"/r/{without.link.code}", allow_redirects=False)
        assert landing.status == 302
        assert landing.headers["Location"] == "https://other.example/deals?src=aff"
        assert landing.headers["Cache-Control"] == "no-store"
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


async def test_a_pause_by_command_reaches_the_next_click_despite_the_cache(
    services: Services, database: Database, manager: Chat
) -> None:
    """Issue 16, bug 11: with ``link_cache_seconds = 5`` a pause took ~14 s to reach the
    redirect. In the process that ran the command it now reaches the very next click."""
    seeded = await seed(database, destination="https://shop.example/")
    code = seeded.link.code
    cached = FAST.model_copy(update={"link_cache_seconds": 5})
    async with running(services, cached) as client:

        async def lands_on() -> str:
            response = await client.get(f"/r/{code}", allow_redirects=False)
            return str(urlsplit(response.headers["Location"])._replace(query="").geturl())

        assert (
            "click_id"
            in (await client.get(f"/r/{code}", allow_redirects=False)).headers["Location"]
        )
        assert "Paused shop" in (await manager("/program pause shop")).text
        assert await lands_on() == "https://shop.example/"
        paused = await client.get(f"/r/{code}", allow_redirects=False)
        assert "click_id" not in paused.headers["Location"]
        await manager("/program resume shop")
        assert (
            "click_id"
            in (await client.get(f"/r/{code}", allow_redirects=False)).headers["Location"]
        )
        # A suspension and a cap take the same path.
        await manager(f"/suspend #{seeded.affiliate.id} test")
        assert (await client.get(f"/r/{code}", allow_redirects=False)).status == 410
        await client.app[TRACKING].buffer.flush()


async def test_another_process_sees_a_pause_within_the_configured_seconds(
    services: Services, database: Database, clock: Clock
) -> None:
    """A change made elsewhere (another process sharing the database) shows within
    ``link_cache_seconds`` on a quiet link too: the first click after the cached decision
    expired used to get that old decision (the ~14 s with a 5 s cache)."""
    seeded = await seed(database, destination="https://shop.example/")
    code = seeded.link.code
    async with running(services, FAST.model_copy(update={"link_cache_seconds": 0.5})) as client:
        first = await client.get(f"/r/{code}", allow_redirects=False)
        assert "click_id" in first.headers["Location"]
        async with database.transaction() as store:  # not through this process's commands
            await store.programs.set_status(seeded.program.id, "paused", now=clock())
        await asyncio.sleep(0.6)  # one click, after more than the cache's lifetime
        quiet = await client.get(f"/r/{code}", allow_redirects=False)
        assert quiet.headers["Location"] == "https://shop.example/"
        await client.app[TRACKING].buffer.flush()
