"""The link check page over real HTTP: a signed private URL from /link, the link's state in
words, and the affiliate's hashed address remembered (never a click, never the address)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot.app import fraud_rules, ip_hash_salt
from bot.config import TrackingConfig, load_config
from bot.web.state import TRACKING
from bot.web.visitors import hash_ip
from commands.core import catalog
from commands.core.dispatcher import Dispatcher
from commands.core.invocation import Actor, Services, Settings
from commands.tracking.ip_hashes import check_token, hash_address, instance_salt
from storage import Database
from storage.schema import affiliate_sightings, clicks
from tests.conftest import BASE_URL, Chat, Clock
from tests.tracking_support import EARLY, FAST, running, seed

FORWARDED = TrackingConfig(**{**FAST.model_dump(), "trust_forwarded_for": True})
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36"}


async def check_path(database: Database, clock: Clock, code: str) -> str:
    """The check URL's path and query, signed with the instance's salt as /link signs it."""
    salt = await instance_salt(database, None, now=clock())
    return f"/r/{code}/check?t={check_token(salt, code)}"


async def sightings(database: Database) -> list[tuple[int, str, Any, Any]]:
    async with database.read() as store:
        rows = await store.connection.execute(
            select(
                affiliate_sightings.c.affiliate_id,
                affiliate_sightings.c.ip_hash,
                affiliate_sightings.c.first_seen_at,
                affiliate_sightings.c.last_seen_at,
            )
        )
        return [tuple(row) for row in rows]


async def click_count(database: Database) -> int:
    async with database.read() as store:
        return int(
            (await store.connection.execute(select(func.count()).select_from(clicks))).scalar_one()
        )


async def visit(
    client: TestClient[Any, Any], path: str, *, address: str | None = None, agent: str = ""
) -> ClientResponse:
    headers = dict(BROWSER) if not agent else {"User-Agent": agent}
    if address is not None:
        headers["X-Forwarded-For"] = address
    return await client.get(path, headers=headers, allow_redirects=False)


async def test_link_gives_a_signed_check_url_that_opens_the_page_and_remembers_the_device(
    services: Services, database: Database, clock: Clock, alice: Chat
) -> None:
    seeded = await seed(database)
    reply = await alice("/link shop")
    check = {field.name: field.value for field in reply.fields}["Check it yourself"]
    assert check.startswith(f"{BASE_URL}/r/{seeded.link.code}/check?t=")
    assert any("does not count as a click" in note for note in reply.notes)
    path = check.removeprefix(BASE_URL)
    assert path == await check_path(database, clock, seeded.link.code)
    async with running(services) as client:
        response = await visit(client, path)
        assert response.status == 200
        assert response.content_type == "text/html"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "Location" not in response.headers
        page = await response.text()
        salt = client.app[TRACKING].salt
        clock.advance(days=2)
        await visit(client, path)  # again, later: the same row, seen later
    assert "Your link works" in page
    assert "recognised as your own" in page
    assert "not a click" in page
    assert "127.0.0.1" not in page
    assert await click_count(database) == 0
    [(affiliate_id, ip_hash, first, last)] = await sightings(database)
    assert affiliate_id == seeded.affiliate.id
    assert ip_hash == hash_ip(salt, "127.0.0.1") == hash_address(salt, "127.0.0.1")
    assert len(ip_hash) == 64
    assert last - first == timedelta(days=2)


async def test_a_wrong_or_missing_token_is_an_unknown_link(
    services: Services, database: Database, clock: Clock
) -> None:
    seeded = await seed(database)
    other = await seed(database, user="bob")
    good = await check_path(database, clock, seeded.link.code)
    token = good.rsplit("=", 1)[1]
    wrong = (
        f"/r/{seeded.link.code}/check",  # no token
        f"/r/{seeded.link.code}/check?t=",
        f"/r/{seeded.link.code}/check?t={token[:-1]}{'1' if token[-1] == '0' else '0'}",
        f"/r/{seeded.link.code}/check?t={token.upper()}",
        f"/r/{other.link.code}/check?t={token}",  # bob's link with alice's token
        f"/r/NOSUCHCODE/check?t={token}",
        f"/r/{'A' * 40}/check?t={token}",
        f"/r/{seeded.link.code}/check?t={token}%C3%A9",
    )
    async with running(services) as client:
        for path in wrong:
            response = await visit(client, path)
            assert response.status == 404, path
            assert "Link not found" in await response.text()
    assert await sightings(database) == []
    assert await click_count(database) == 0


async def test_preview_bots_and_head_requests_see_the_page_but_record_nothing(
    services: Services, database: Database, clock: Clock
) -> None:
    seeded = await seed(database)
    path = await check_path(database, clock, seeded.link.code)
    async with running(services) as client:
        for agent in ("TelegramBot (like TwitterBot)", "Discordbot/2.0", "Slackbot 1.0"):
            response = await visit(client, path, agent=agent)
            assert response.status == 200
            assert "Your link works" in await response.text()
        head = await client.head(path, headers=BROWSER)
        assert head.status == 200
    assert await sightings(database) == []


async def test_the_page_says_where_the_link_leads_when_it_is_not_the_offer(
    services: Services, database: Database, clock: Clock
) -> None:
    with_fallback = await seed(database, fallback="https://shop.example/soon")
    without = await seed(database, slug="other", destination="https://other.example/")
    suspended = await seed(database, slug="third", user="carol", fallback="https://t.example/x")
    async with database.transaction() as store:
        await store.programs.set_status(with_fallback.program.id, "paused", now=EARLY)
        await store.programs.set_status(without.program.id, "paused", now=EARLY)
        await store.affiliates.set_status(suspended.affiliate.id, "suspended", reason="test")
    async with running(services) as client:
        pages = {}
        for name, seeded in (("fallback", with_fallback), ("gone", without), ("off", suspended)):
            response = await visit(client, await check_path(database, clock, seeded.link.code))
            assert response.status == 200
            pages[name] = await response.text()
    assert "program paused" in pages["fallback"]
    assert 'href="https://shop.example/soon"' in pages["fallback"]
    assert "do not count" in pages["fallback"]
    # Paused without a fallback: visitors go to the program's plain page, uncounted.
    assert "sent to the program's page" in pages["gone"]
    assert "program paused" in pages["gone"]
    assert "do not count" in pages["gone"]
    assert 'href="https://other.example/"' in pages["gone"]
    assert "affiliate suspended" in pages["off"]
    # One row per affiliate and address (alice's two links share one); a suspended
    # affiliate's own device is remembered too: they are still who they are.
    owners = sorted(affiliate_id for affiliate_id, _, _, _ in await sightings(database))
    assert owners == sorted([with_fallback.affiliate.id, suspended.affiliate.id])


async def test_the_page_escapes_everything_and_links_no_click_id(
    services: Services, database: Database, clock: Clock
) -> None:
    seeded = await seed(
        database,
        destination="https://shop.example/p?x=<script>alert(1)</script>&sub={click_id}&aff={code}",
        fallback='https://shop.example/"><b>x</b>',
    )
    async with database.transaction() as store:
        await store.programs.set_status(seeded.program.id, "paused", now=EARLY)
    path = await check_path(database, clock, seeded.link.code)
    async with running(services) as client:
        page = await (await visit(client, f"{path}&next=https://evil.example/")).text()
    assert "<script>" not in page
    assert "<b>" not in page
    assert "&lt;b&gt;" in page or "%3Cb%3E" in page
    assert "{click_id}" not in page
    assert "sub=" not in page
    assert "click_id" not in page
    assert "evil.example" not in page
    hrefs = [part.split('"', 1)[0] for part in page.split('href="')[1:]]
    assert all(urlsplit(href.replace("&amp;", "&")).netloc == "shop.example" for href in hrefs)
    assert any(href.startswith("https://shop.example/p?x=") for href in hrefs)


async def test_the_address_remembered_is_the_forwarded_one_when_trusted(
    services: Services, database: Database, clock: Clock
) -> None:
    seeded = await seed(database)
    path = await check_path(database, clock, seeded.link.code)
    async with running(services, FORWARDED) as client:
        await visit(client, path, address="198.51.100.7")
        await visit(client, path, address="2001:db8::1")
        salt = client.app[TRACKING].salt
    hashes = {ip_hash for _, ip_hash, _, _ in await sightings(database)}
    assert hashes == {hash_ip(salt, "198.51.100.7"), hash_ip(salt, "2001:db8::1")}


async def test_the_page_says_when_a_full_cap_sends_visitors_to_the_fallback(
    services: Services, database: Database, clock: Clock, manager: Chat
) -> None:
    seeded = await seed(database, fallback="https://shop.example/full")
    await manager("/cap set shop 1 month conversions fallback")
    path = await check_path(database, clock, seeded.link.code)
    async with running(services) as client:
        before = await (await visit(client, path)).text()
        sale = await client.get(
            f"/postback?token=s3cret&code={seeded.link.code}&txn_id=F-1&amount=10"
        )
        assert sale.status == 200
        after = await (await visit(client, path)).text()
    assert "Your link works: visitors go to the program's page" in before
    assert "cap reached" in after
    assert 'href="https://shop.example/full"' in after


async def test_a_configured_salt_signs_link_and_page_alike_and_the_page_is_rate_limited(
    database: Database, clock: Clock, tmp_path: Path
) -> None:
    config = load_config(
        tmp_path / "none.toml",
        {"AFFBOT_TRACKING__IP_HASH_SALT": "pepper", "AFFBOT_FRAUD__SELF_IP_DAYS": "0"},
    )
    assert ip_hash_salt(config) == "pepper"
    assert fraud_rules(config).self_ip_days == 0
    assert fraud_rules(config).customers_per_ip == 3
    services = Services(
        database=database,
        settings=Settings(public_base_url=BASE_URL, ip_hash_salt=ip_hash_salt(config)),
        clock=clock,
        registry=catalog.load(),
    )
    assert "pepper" not in repr(services.settings)
    seeded = await seed(database)
    alice = Chat(Dispatcher(services.registry, services), Actor("console", "alice", "Alice"))
    fields = {field.name: field.value for field in (await alice("/link shop")).fields}
    path = fields["Check it yourself"].removeprefix(BASE_URL)
    assert path.endswith(f"?t={check_token('pepper', seeded.link.code)}")
    limited = TrackingConfig(
        **{
            **FAST.model_dump(),
            "ip_hash_salt": config.tracking.ip_hash_salt,
            "redirects_per_minute": 1,
            "redirect_burst": 1,
        }
    )
    async with running(services, limited) as client:
        assert (await visit(client, path)).status == 200
        refused = await visit(client, path)
        assert refused.status == 429
        assert "Retry-After" in refused.headers
    assert len(await sightings(database)) == 1
