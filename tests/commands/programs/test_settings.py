"""/program set and /program postback, checked against the running tracking server."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from commands.core.invocation import Services
from storage import Database
from tests.conftest import BASE_URL, Chat
from tests.tracking_support import running, seed


async def test_destination_and_fallback_are_validated_and_used(
    services: Services, database: Database, manager: Chat, alice: Chat
) -> None:
    seeded = await seed(database)
    for bad, reason in [
        ("javascript:alert(1)", "http:// or https://"),
        ("https://user:pw@shop.example/", "user name or password"),
        ("https:///path-only", "no host"),
        ("ftp://shop.example/", "http:// or https://"),
    ]:
        reply = await manager(f"/program set shop destination {bad}")
        assert reason in reply.text, reply.text
        assert reason in (await manager(f"/program set shop fallback {bad}")).text
    assert "managers only" in (await alice("/program set shop fallback none")).text
    reply = await manager("/program set shop destination https://new.example/go?s={click_id}")
    assert reply.private
    await manager("/program set shop fallback https://new.example/later")
    async with running(services) as client:
        response = await client.get(f"/r/{seeded.link.code}", allow_redirects=False)
        location = urlsplit(response.headers["Location"])
        assert (location.netloc, location.path) == ("new.example", "/go")
        assert len(parse_qs(location.query)["s"][0]) == 32
    async with database.read() as store:
        program = await store.programs.by_slug("shop")
        entries = await store.audit.recent()
    assert program is not None
    assert program.destination_url == "https://new.example/go?s={click_id}"
    assert program.fallback_url == "https://new.example/later"
    assert [entry.action for entry in entries[:2]] == [
        "program.set.fallback",
        "program.set.destination",
    ]
    await manager("/program set shop fallback none")
    async with database.read() as store:
        cleared = await store.programs.by_slug("shop")
    assert cleared is not None
    assert cleared.fallback_url is None


async def test_postback_url_from_the_command_works_and_secrets_rotate(
    services: Services, database: Database, manager: Chat
) -> None:
    seeded = await seed(database, postback={"secret": ""})
    reply = await manager("/program postback shop")
    assert reply.private
    template = {field.name: field.value for field in reply.fields}["Postback URL"]
    first_secret = parse_qs(urlsplit(template).query)["token"][0]
    assert template.startswith(f"{BASE_URL}/postback?program=shop&token=")
    filled = (
        template.replace("{click_id}", "")
        .replace("{txn_id}", "P-1")
        .replace("{amount}", "12.00")
        .replace("{status}", "pending")
    )
    path = filled.removeprefix(BASE_URL).replace("click_id=&", f"code={seeded.link.code}&")
    async with running(services) as client:
        first = await client.get(path)
        assert first.status == 200, await first.text()
        # What the reply says of a POST holds: the token in a JSON body, not the query.
        assert "form or JSON body" in {f.name: f.value for f in reply.fields}["POST"]
        in_body = await client.post(
            "/postback",
            json={"token": first_secret, "code": seeded.link.code, "txn_id": "P-B", "amount": 5},
        )
        assert in_body.status == 200, await in_body.text()
        rotated = await manager("/program set shop postback-secret new")
        assert "New postback secret" in rotated.text
        old_still_works = await client.get(path.replace("P-1", "P-2"))
        assert old_still_works.status == 200
        await manager("/program set shop postback-secret forget-previous")
        refused = await client.get(path.replace("P-1", "P-3"))
        assert refused.status == 401
    async with database.read() as store:
        entries = await store.audit.recent()
    second_secret = rotated.text.split(": ", 1)[1].split()[0]
    for entry in entries:  # the audit log masks secrets
        assert first_secret not in f"{entry.before}{entry.after}"
        assert second_secret not in f"{entry.before}{entry.after}"
    assert any(entry.action == "program.set.postback-secret" for entry in entries)


async def test_hmac_and_mapping_settings_show_in_the_postback_help(
    database: Database, manager: Chat
) -> None:
    await seed(database)
    await manager("/program set shop postback-auth hmac")
    await manager("/program set shop postback-header X-Rewardful-Signature")
    await manager("/program set shop field txn_id=order_ref")
    reply = await manager("/program postback shop")
    fields = {field.name: field.value for field in reply.fields}
    assert fields["Auth"] == "hmac"
    assert fields["Signature header"] == "X-Rewardful-Signature"
    assert "order_ref" in fields["Body fields"]
    for line, expected in [
        ("/program set shop postback-auth basic", "must be one of"),
        ("/program set shop postback-header X Sig", "header name"),
        ("/program set shop field price=amount", "field names one of ours"),
        ("/program set shop status 3=lost", "like 2=reversed"),
        ("/program set shop postback-secret short", "at least 16"),
        ("/program set shop recurring-months 500", "0 to 120"),
        ("/program set nope fallback none", 'no program called "nope"'),
    ]:
        assert expected.lower() in (await manager(line)).text.lower(), line
    reply = await manager("/program set shop field txn_id=")
    assert "back to the default" in reply.text
