"""Option values reach the commands exactly as typed, through the real discord.py.

Discord splits a slash command's options itself, and the adapter binds each value whole
(``CommandSpec.bind``). They once took a round trip through a text line that replaced
straight quotes with curly ones, so ``Use code "SPRING"`` was stored and posted as
``Use code ”SPRING”``.
"""

from __future__ import annotations

from dataclasses import replace

from bot.delivery.dispatcher import DispatchSettings, OutboxDispatcher
from bot.delivery.pacing import Limits
from commands.core.invocation import Services
from tests.adapters.discord.test_commands import SPRING, rename, text_of
from tests.fakes.discord_harness import running_bot

CHANNEL = "555000111"  # the configured announcement channel
ANNOUNCEMENTS = [
    'Use code "SPRING" at checkout',
    "Use code “SPRING” or ‘SPRING’, or „SPRING“ and «SPRING», don't wait",
    '"Quoted from the first character to the last"',
    "'Tis the season: --dm and --ping are only words here",
    "One lone \" and one lone ” and a trailing '",
]
NAMES = ['The "Spring" Sale', "'Tis “the” Season’s Sale", '"Quoted"']


async def test_an_announcement_is_stored_and_posted_with_exactly_its_quotes(
    services: Services,
) -> None:
    settings = replace(services.settings, announce_targets=(("discord", CHANNEL),))
    async with running_bot(replace(services, settings=settings), track_invites=False) as bot:
        for text in ANNOUNCEMENTS:
            answer = await bot.one(bot.manager, "announce", {"text": text})
            assert text_of(answer) == "\nAnnouncement queued for 1 channel."
        await OutboxDispatcher(
            bot.services.database,
            bot.adapter.sender,
            Limits(rate=1000, burst=100),
            settings=DispatchSettings(concurrency=1, poll_interval=0.01),
            clock=services.clock,
        ).run(until_idle=True)
        posts = bot.fake.channel_messages(CHANNEL)
        async with bot.services.database.read() as store:
            audit = await store.audit.recent(len(ANNOUNCEMENTS))
    stored = [(entry.after or {}) for entry in audit if entry.action == "announce"]
    assert sorted(entry["text"] for entry in stored) == sorted(ANNOUNCEMENTS)
    assert not any(entry["dm"] or entry["ping"] for entry in stored)  # words, not flags
    assert sorted(post.embed["description"] for post in posts) == sorted(ANNOUNCEMENTS)
    assert {post.embed["title"] for post in posts} == {"Announcement"}


async def test_a_program_name_keeps_its_quotes(services: Services) -> None:
    async with running_bot(services, track_invites=False) as bot:
        for number, name in enumerate(NAMES):
            options = {**rename(SPRING), "slug": f"sale-{number}", "name": name}
            created = await bot.one(bot.manager, "program add", options)
            assert f"Program sale-{number} created" in text_of(created)
            assert name in text_of(created)
        async with bot.services.database.read() as store:
            programs = await store.programs.list()
        listing = await bot.one(bot.alice, "programs")
    assert sorted(program.name for program in programs) == sorted(NAMES)
    for name in NAMES:
        assert name in listing.embed["description"]
