"""The Discord adapter as a process runs it: from config and `affbot run`, and sharded."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.adapters.discord.client import DiscordStartError
from bot.app import run_bot
from bot.config import ConfigError, load_config
from commands.core.invocation import Services
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_harness import running_bot
from tests.processes import ROOT


def test_discord_keys_load_from_toml_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[discord]\nguild_ids = [1, 2]\ntrack_invites = true\n", encoding="utf-8")
    config = load_config(path, {"AFFBOT_DISCORD__SHARD_COUNT": "4", "DISCORD_TOKEN": "t"})
    assert config.discord.guild_ids == [1, 2]
    assert config.discord.shard_count == 4
    assert config.discord.track_invites is True
    assert config.discord.token is not None
    assert config.discord.token.get_secret_value() == "t"
    from_env = load_config(path, {"AFFBOT_DISCORD__GUILD_IDS": "5, 6"})
    assert from_env.discord.guild_ids == [5, 6]
    assert from_env.discord.shard_count is None
    with pytest.raises(ConfigError, match=r"discord\.shard_count"):
        load_config(path, {"AFFBOT_DISCORD__SHARD_COUNT": "0"})


def test_the_example_config_documents_every_discord_key() -> None:
    example = ROOT / "config.example.toml"
    config = load_config(example, {})
    text = example.read_text(encoding="utf-8")
    for key in type(config.discord).model_fields:
        assert f"{key} =" in text, key


async def test_affbot_run_starts_the_discord_adapter_when_a_token_is_set(tmp_path: Path) -> None:
    fake = FakeDiscord()
    guild = fake.add_guild()
    alice = fake.add_member(guild, "alice")
    await fake.start()
    environ = {
        "DISCORD_TOKEN": fake.token,
        "AFFBOT_DISCORD__API_BASE_URL": fake.api_base_url,
        "AFFBOT_DISCORD__GATEWAY_URL": fake.gateway_url,
        "AFFBOT_DISCORD__GUILD_IDS": guild.id,
        "AFFBOT_DATABASE__URL": f"sqlite:///{tmp_path / 'affbot.db'}",
        "AFFBOT_WEB__PORT": "0",
    }
    config = load_config(tmp_path / "absent.toml", environ)
    running = asyncio.create_task(run_bot(config, console=False))
    try:
        await fake.wait_for(lambda: fake.gateway.identifies, within=10)
        await fake.wait_for(lambda: fake.syncs)
        interaction = await fake.slash(guild, alice, "programs")
        (answer,) = await fake.answer(interaction)
        assert "no open programs" in answer.embed["description"]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await fake.close()


async def test_a_wrong_token_stops_affbot_run_with_an_error(tmp_path: Path) -> None:
    fake = FakeDiscord()
    await fake.start()
    environ = {
        "DISCORD_TOKEN": "not-the-token",
        "AFFBOT_DISCORD__API_BASE_URL": fake.api_base_url,
        "AFFBOT_DISCORD__GATEWAY_URL": fake.gateway_url,
        "AFFBOT_DATABASE__URL": f"sqlite:///{tmp_path / 'affbot.db'}",
        "AFFBOT_WEB__PORT": "0",
    }
    try:
        config = load_config(tmp_path / "absent.toml", environ)
        with pytest.raises(DiscordStartError, match="the bot token was refused") as stopped:
            await asyncio.wait_for(run_bot(config, console=False), 10)
    finally:
        await fake.close()
    assert "not-the-token" not in str(stopped.value)


async def test_sharded_clients_identify_each_shard_and_answer(services: Services) -> None:
    async with running_bot(services, shard_count=2, guild_commands=False) as bot:
        shards = sorted(tuple(identify["shard"]) for identify in bot.fake.gateway.identifies)
        assert shards == [(0, 2), (1, 2)]
        (answer,) = await bot.run(bot.alice, "programs")
        assert "no open programs" in answer.embed["description"]
        (in_dm,) = await bot.run(bot.alice, "help", in_dm=True)
        assert "/join" in in_dm.embed["description"]
