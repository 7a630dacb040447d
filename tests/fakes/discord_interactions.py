"""INTERACTION_CREATE payloads for slash commands and autocomplete, built from the
command definitions the bot synced, so option names and types are the ones it registered."""

from __future__ import annotations

from typing import Any

from tests.fakes.discord_payloads import FakeChannel, FakeGuild, FakeMember, snowflake

USER_OPTION = 6


def interaction_payload(
    commands: dict[str, dict[str, Any]],
    application_id: str,
    guild: FakeGuild | None,
    member: FakeMember,
    command: str,
    options: dict[str, Any],
    *,
    focused: str | None,
    guild_scoped: bool,
) -> dict[str, Any]:
    """``/command`` (``program add`` is a subcommand) as ``member`` in ``guild`` (``None``:
    a DM); with ``focused``, an autocomplete request for that option. User options take a
    ``FakeMember``, which also lands in ``resolved``."""
    words = command.split()
    definition = commands[words[0]]
    target = definition
    for word in words[1:]:
        target = next(o for o in target["options"] if o["name"] == word)
    built, resolved = _options(target, options, guild, focused)
    for word in reversed(words[1:]):
        built = [{"name": word, "type": 1, "options": built}]
    interaction_id = snowflake()
    data: dict[str, Any] = {
        "id": interaction_id,
        "application_id": application_id,
        "type": 4 if focused else 2,
        "token": f"token-{interaction_id}",
        "version": 1,
        "data": {
            "id": definition["id"],
            "name": words[0],
            "type": 1,
            "options": built,
            "resolved": resolved,
        },
        "locale": "en-US",
        "entitlements": [],
        "attachment_size_limit": 8 * 1024 * 1024,
        "app_permissions": str((1 << 41) - 1),
    }
    if guild is not None:
        channel_id = guild.system_channel_id or next(iter(guild.channels))
        data["data"]["guild_id"] = guild.id if guild_scoped else None
        data.update(
            guild_id=guild.id,
            guild_locale="en-US",
            channel_id=channel_id,
            channel=guild.channels[channel_id].payload(),
            member={
                **member.payload(),
                "permissions": str(guild.permissions_of(member)),
            },
            context=0,
            authorizing_integration_owners={"0": guild.id},
        )
    else:
        channel = FakeChannel(snowflake(), "", type=1)
        data.update(
            channel_id=channel.id,
            channel={**channel.payload(), "recipients": [member.user.payload()]},
            user=member.user.payload(),
            context=1,
            authorizing_integration_owners={"0": member.user.id},
        )
    return data


def _options(
    target: dict[str, Any],
    values: dict[str, Any],
    guild: FakeGuild | None,
    focused: str | None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    known = {option["name"]: option for option in target.get("options", [])}
    built = []
    resolved: dict[str, Any] = {}
    for name, value in values.items():
        option = known[name]  # KeyError: the synced command has no such option
        entry: dict[str, Any] = {"name": name, "type": option["type"], "value": value}
        if option["type"] == USER_OPTION:
            member: FakeMember = value
            entry["value"] = member.user.id
            users = resolved.setdefault("users", {})
            users[member.user.id] = member.user.payload()
            if guild is not None:
                members = resolved.setdefault("members", {})
                members[member.user.id] = member.payload(with_user=False)
        if name == focused:
            entry["focused"] = True
            entry["value"] = str(value)
        built.append(entry)
    return built, resolved
