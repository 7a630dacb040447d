"""Discord reward roles through the real adapter and the fake Discord: a tier's role is
granted and removed with the tier, a badge's role granted, and Discord's refusal (no
Manage Roles, or a role above the bot's) recorded for /report."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from commands.core.invocation import Services
from commands.tracking.conversions import TrackingRules, record_conversion
from tests.conftest import Chat
from tests.fakes.discord_harness import Bot, running_bot
from tests.fakes.discord_payloads import FakeRole

SPRING = {
    "slug": "spring-sale",
    "destination-url": "https://shop.example/spring",
    "commission": "12%",
    "name": "Spring Sale",
}


@pytest.fixture
async def bot(services: Services) -> AsyncIterator[Bot]:
    async with running_bot(services, extra_roles=("Gold", "Veteran", "Locked")) as running:
        await running.one(running.manager, "program add", SPRING)
        await running.one(running.alice, "join", {"program": "spring-sale"})
        yield running


def role(bot: Bot, name: str) -> FakeRole:
    return next(r for r in bot.guild.roles.values() if r.name == name)


async def convert(services: Services, bot: Bot, txn: str, status: str = "approved") -> None:
    async with services.database.transaction() as store:
        program = await store.programs.by_slug("spring-sale")
        alice = await store.affiliates.by_identity("discord", bot.alice.user.id)
        assert program is not None
        assert alice is not None
        link = await store.links.ensure(alice.id, program.id, "", now=services.clock())
    fields = {"code": link.code, "txn_id": txn, "amount": "100", "status": status}
    await record_conversion(
        services.database, program, fields, now=services.clock(), rules=TrackingRules()
    )


async def test_tier_and_badge_roles_are_granted_removed_and_refusals_recorded(
    bot: Bot, services: Services, manager: Chat
) -> None:
    gold, veteran, locked = role(bot, "Gold"), role(bot, "Veteran"), role(bot, "Locked")
    bot.fake.forbidden_roles.add(locked.id)
    await manager("/tier set spring-sale Gold 2 90 1%")
    reply = await manager(f"/reward_role tier Gold <@&{gold.id}> spring-sale")
    assert reply.text == "The role now goes with the tier Gold. New tier changes grant it."
    assert (
        "no tier called Platinum"
        in (await manager(f"/reward_role tier Platinum {gold.id} spring-sale")).text
    )
    await manager(f"/reward_role badge first-conversion {veteran.id}")
    await manager(f"/reward_role badge first-conversion {locked.id}")

    await convert(services, bot, "A")
    await convert(services, bot, "B")  # reaches Gold
    await bot.adapter.roles.apply_pending()
    member_roles = bot.guild.members[bot.alice.user.id].roles
    assert gold.id in member_roles
    assert veteran.id in member_roles
    assert locked.id not in member_roles
    async with services.database.read() as store:
        problems = await store.reward_roles.problems()
    assert [(p.role_id, p.action) for p in problems] == [(locked.id, "grant")]
    assert problems[0].error is not None
    assert "Manage Roles" in problems[0].error

    await convert(services, bot, "A", "reversed")  # below Gold again: its role goes
    assert await bot.adapter.roles.apply_pending() == 1
    assert gold.id not in bot.guild.members[bot.alice.user.id].roles
    assert veteran.id in bot.guild.members[bot.alice.user.id].roles  # badges stay
    assert ("DELETE", bot.guild.id, bot.alice.user.id, gold.id) in bot.fake.member_roles
    async with services.database.read() as store:
        alice = await store.affiliates.by_identity("discord", bot.alice.user.id)
        assert alice is not None
        history = await store.reward_roles.history(alice.id)
    assert {(c.role_id, c.action, c.status) for c in history} == {
        (gold.id, "grant", "done"),
        (veteran.id, "grant", "done"),
        (locked.id, "grant", "failed"),
        (gold.id, "remove", "done"),
    }
