"""End to end: members and managers use the slash commands through the real discord.py.

discord.py logs in to the fake Discord, syncs the commands generated from the registry,
connects to the fake gateway, and answers the INTERACTION_CREATE events the tests send;
every answer is read back from what the fake recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from commands.core import catalog
from commands.core.invocation import Invocation, Services
from commands.core.registry import Audience, Param, ParamKind, Registry
from commands.core.reply import Reply, Visibility
from tests.fakes.discord import Sent
from tests.fakes.discord_harness import Bot, running_bot

SPRING = {
    "slug": "spring-sale",
    "destination_url": "https://shop.example/spring",
    "commission": "12%",
    "name": "Spring Sale",
}


@pytest.fixture
async def bot(services: Services) -> AsyncIterator[Bot]:
    async with running_bot(services, heartbeat_ms=50) as running:
        yield running


def text_of(sent: Sent) -> str:
    embed = sent.embed
    parts = [embed.get("title") or "", embed.get("description") or ""]
    parts += [f"{f['name']}: {f['value']}" for f in embed.get("fields", [])]
    return "\n".join(parts)


def rename(options: dict[str, str]) -> dict[str, str]:
    """Test dicts use Python names; Discord options are the dashed keywords."""
    return {name.replace("_", "-"): value for name, value in options.items()}


async def test_login_syncs_commands_generated_from_the_registry(bot: Bot) -> None:
    (guild_id, synced), *_ = bot.fake.syncs
    assert guild_id == bot.guild.id
    by_name = {command["name"]: command for command in synced}
    registry = bot.services.registry
    assert set(by_name) == {spec.words[0] for spec in registry}
    program = by_name["program"]
    assert int(program["default_member_permissions"]) == 32  # Manage Server
    add = next(o for o in program["options"] if o["name"] == "add")
    assert add["type"] == 1
    options = {o["name"]: o for o in add["options"]}
    assert options["slug"]["required"] is True
    assert options["slug"]["max_length"] == 32
    assert options["window"]["type"] == 4
    assert (options["window"]["min_value"], options["window"]["max_value"]) == (1, 365)
    assert options["approval"]["type"] == 5
    assert "destination-url" in options
    assert by_name["help"]["default_member_permissions"] is None
    period = by_name["stats"]["options"][0]
    assert [c["value"] for c in period["choices"]] == [
        "today",
        "week",
        "last-week",
        "month",
        "last-month",
        "all",
    ]
    assert by_name["link"]["options"][0]["autocomplete"] is True
    identify = bot.fake.gateway.identifies[0]
    assert identify["token"] == bot.fake.token
    assert identify["intents"] & (1 << 1)  # Server Members, for invite tracking
    await bot.fake.wait_for(lambda: bot.fake.gateway.heartbeat_acks >= 2)
    assert bot.fake.gateway.compressed_sessions == 1  # discord.py asked for zlib-stream frames


async def test_a_member_uses_every_affiliate_command(bot: Bot) -> None:
    created = await bot.one(bot.manager, "program add", rename(SPRING))
    assert "Program spring-sale created" in text_of(created)
    assert not created.ephemeral

    listing = await bot.one(bot.alice, "programs")
    assert "spring-sale" in listing.embed["description"]
    assert "```" in listing.embed["description"]  # the table is a code block
    assert not listing.ephemeral

    joined = await bot.one(bot.alice, "join", {"program": "spring-sale"})
    assert joined.ephemeral
    assert "Welcome to Spring Sale" in text_of(joined)

    link = await bot.one(bot.alice, "link", {"program": "spring-sale", "campaign": "youtube"})
    assert link.ephemeral
    fields = {f["name"]: f["value"] for f in link.embed["fields"]}
    assert fields["Link"].startswith("https://go.example.test/r/")
    assert fields["Campaign"] == "youtube"
    button = link.body["data"]["components"][0]["components"][0]
    assert (button["style"], button["url"]) == (5, fields["Link"])

    again = await bot.one(bot.alice, "link", {"program": "spring-sale", "campaign": "youtube"})
    assert {f["name"]: f["value"] for f in again.embed["fields"]}["Link"] == fields["Link"]

    stats = await bot.one(bot.alice, "stats", {"period": "week"})
    assert stats.ephemeral
    assert "Your stats, this week" in text_of(stats)

    helped = await bot.one(bot.alice, "help")
    assert "/link" in helped.embed["description"]
    assert "/program add" not in helped.embed["description"]  # managers only
    detail = await bot.one(bot.alice, "help", {"command": "link"})
    assert detail.embed["title"] == "/link"

    for sent in bot.fake.sent:
        assert sent.allowed_mentions == {"parse": []}


async def test_affiliate_commands_ask_strangers_to_join_first(bot: Bot) -> None:
    answer = await bot.one(bot.bob, "stats")
    assert "You are not an affiliate yet" in text_of(answer)
    assert answer.ephemeral


async def test_manager_commands_are_refused_to_members(bot: Bot) -> None:
    refused = await bot.one(bot.alice, "program add", rename(SPRING))
    assert "for program managers only" in text_of(refused)
    async with bot.services.database.read() as store:
        assert await store.programs.list() == []

    by_permission = await bot.one(bot.admin, "program add", rename(SPRING))
    assert "created" in text_of(by_permission)
    owner = bot.guild.members[bot.guild.owner_id]
    other = {**rename(SPRING), "slug": "autumn"}
    by_ownership = await bot.one(owner, "program add", other)
    assert "created" in text_of(by_ownership)


async def test_bad_input_gets_usage_and_writes_nothing(bot: Bot) -> None:
    bad = {**rename(SPRING), "destination-url": "javascript:alert(1)"}
    answer = await bot.one(bot.manager, "program add", bad)
    text = text_of(answer)
    assert "http:// or https://" in text
    assert "Usage: /program add" in text
    async with bot.services.database.read() as store:
        assert await store.programs.list() == []


async def test_options_go_through_the_registry_validation(bot: Bot) -> None:
    options = {**rename(SPRING), "window": 14, "approval": True, "currency": "eur"}
    answer = await bot.one(bot.manager, "program add", options)
    assert "attribution window 14 days" in text_of(answer)
    assert "joining needs approval" in text_of(answer)
    async with bot.services.database.read() as store:
        program = await store.programs.by_slug("spring-sale")
    assert program is not None
    assert (program.currency, program.approval_required) == ("EUR", True)


async def test_autocomplete_suggests_program_slugs(bot: Bot) -> None:
    await bot.one(bot.manager, "program add", rename(SPRING))
    other = {**rename(SPRING), "slug": "summer", "name": "Summer"}
    await bot.one(bot.manager, "program add", other)
    interaction = await bot.fake.slash(
        bot.guild, bot.alice, "join", {"program": "spr"}, focused="program"
    )
    choices = await bot.fake.wait_for(lambda: bot.fake.autocompletes.get(interaction))
    assert [c["value"] for c in choices] == ["spring-sale"]
    everything = await bot.fake.slash(
        bot.guild, bot.alice, "link", {"program": ""}, focused="program"
    )
    choices = await bot.fake.wait_for(lambda: bot.fake.autocompletes.get(everything))
    assert [c["value"] for c in choices] == ["spring-sale", "summer"]


async def test_mentions_and_markdown_in_user_text_are_inert(bot: Bot) -> None:
    hostile = f"@everyone <@&{bot.manager_role.id}> **loud** @here ```"
    options = {**rename(SPRING), "name": hostile}
    created = await bot.one(bot.manager, "program add", options)
    description = created.embed["description"]
    assert "@everyone" not in description
    assert "@\u200beveryone" in description
    assert "@\u200bhere" in description
    assert f"<@&{bot.manager_role.id}>" not in description
    assert "\\*\\*loud\\*\\*" in description

    listing = await bot.one(bot.alice, "programs")
    assert listing.embed["description"].count("```") == 2  # the table's fences only

    asked = await bot.one(bot.alice, "help", {"command": "@everyone"})
    assert "@everyone" not in text_of(asked)
    for sent in bot.fake.sent:
        assert sent.allowed_mentions == {"parse": []}


async def test_direct_messages_work_and_nobody_is_a_manager_there(services: Services) -> None:
    async with running_bot(services, guild_commands=False) as bot:
        assert bot.fake.syncs[0][0] is None  # global commands
        (answer,) = await bot.run(bot.manager, "program add", rename(SPRING), in_dm=True)
        assert "for program managers only" in text_of(answer)
        listing = await bot.run(bot.alice, "programs", in_dm=True)
        assert "no open programs" in text_of(listing[0])


def registry_with_test_commands(release: asyncio.Event) -> Registry:
    """The real catalog plus two test commands: one that waits for the test (deferral) and
    one with the option types no shipped command uses yet."""
    registry = Registry()
    for spec in catalog.load():
        registry.command(
            spec.name,
            spec.description,
            params=spec.params,
            audience=spec.audience,
            examples=spec.examples,
            private=spec.private,
        )(spec.handler)

    @registry.command(
        "slow_report",
        "A slow private report",
        params=[Param("program", "The program", required=False)],
        audience=Audience.ANYONE,
        private=True,
    )
    async def report(invocation: Invocation, program: str | None) -> Reply:
        await release.wait()
        return Reply(title="Report", text=f"ready for {program}", visibility=Visibility.PRIVATE)

    @registry.command(
        "bonus",
        "Pay a bonus",
        params=[
            Param("member", "Who", kind=ParamKind.USER),
            Param("amount", "How much", kind=ParamKind.NUMBER),
            Param("times", "How often", kind=ParamKind.INTEGER, minimum=1, maximum=10),
            Param("loud", "Announce it", kind=ParamKind.FLAG),
        ],
        audience=Audience.MANAGER,
    )
    async def bonus(
        invocation: Invocation, member: str, amount: str, times: int, loud: bool
    ) -> Reply:
        return Reply(text=f"{member} gets {amount} x{times} loud={loud}")

    return registry


async def test_user_number_integer_and_flag_options_reach_the_spec(services: Services) -> None:
    typed = replace(services, registry=registry_with_test_commands(asyncio.Event()))
    async with running_bot(typed) as bot:
        synced = {c["name"]: c for c in bot.fake.syncs[0][1]}
        kinds = {o["name"]: o["type"] for o in synced["bonus"]["options"]}
        assert kinds == {"member": 6, "amount": 10, "times": 4, "loud": 5}
        assert int(synced["bonus"]["default_member_permissions"]) == 32
        options = {"member": bot.alice, "amount": 12.5, "times": 3, "loud": True}
        answer = await bot.one(bot.manager, "bonus", options)
        assert answer.embed["description"] == f"{bot.alice.user.id} gets 12.5 x3 loud=True"
        refused = await bot.one(bot.bob, "bonus", options)
        assert "for program managers only" in refused.embed["description"]


async def test_a_slow_command_is_deferred_then_followed_up(services: Services) -> None:
    release = asyncio.Event()
    slow = replace(services, registry=registry_with_test_commands(release))
    async with running_bot(slow, defer_after=0.05) as bot:
        interaction = await bot.fake.slash(bot.guild, bot.alice, "slow_report", {"program": "x"})
        deferral = await bot.fake.wait_for(lambda: bot.fake.replies_to(interaction))
        assert deferral[0].body["type"] == 5
        assert deferral[0].body["data"]["flags"] & 64  # the thinking message is private too
        release.set()
        (followup,) = await bot.fake.answer(interaction)
        assert followup.kind == "followup"
        assert followup.embed["description"] == "ready for x"
        assert followup.ephemeral
        fast = await bot.fake.slash(bot.guild, bot.alice, "programs")
        (answer,) = await bot.fake.answer(fast)
        assert answer.body["type"] == 4  # answered at once, not deferred


async def test_a_long_or_broken_display_name_joins_trimmed_on_every_engine(
    services: Services,
) -> None:
    # Issue 17: a name over identities.display_name's varchar(100) failed /join on
    # PostgreSQL. Names enter the core through Actor, which makes them storable for
    # every adapter alike: control characters and lone surrogates dropped, 100 kept.
    async with running_bot(services, heartbeat_ms=50) as bot:
        await bot.one(bot.manager, "program add", rename(SPRING))
        member = bot.fake.add_member(bot.guild, "L" * 150 + "\x00\ud800end")
        joined = await bot.one(member, "join", {"program": "spring-sale"})
        assert "Welcome to Spring Sale" in text_of(joined)
    async with services.database.read() as store:
        affiliate = await store.affiliates.by_identity("discord", str(member.user.id))
    assert affiliate is not None
    assert affiliate.display_name == "L" * 100
