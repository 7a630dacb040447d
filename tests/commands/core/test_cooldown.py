"""Per-user command limits through the real dispatcher: a polite cooldown, no work done."""

from __future__ import annotations

from commands.core.cooldown import CommandLimits
from commands.core.dispatcher import Dispatcher
from commands.core.invocation import Actor, ChatKind, Services
from tests.conftest import Clock


async def test_spamming_commands_gets_a_cooldown_and_time_lifts_it(
    services: Services, clock: Clock
) -> None:
    dispatcher = Dispatcher(services.registry, services, CommandLimits(per_minute=6, burst=3))
    spammer = Actor("console", "spam", "Spam")
    other = Actor("console", "calm", "Calm")
    replies = [
        (await dispatcher.execute_line("/programs", spammer, ChatKind.PRIVATE))[0]
        for _ in range(4)
    ]
    assert all("going a little fast" not in reply.text for reply in replies[:3])
    assert replies[3].text == "You're going a little fast. Please try again in 10 seconds."
    assert replies[3].private
    # Someone else is not affected, nor is a manager.
    calm = await dispatcher.execute_line("/programs", other, ChatKind.PRIVATE)
    assert "going a little fast" not in calm[0].text
    boss = Actor("console", "boss", "Boss", is_manager=True)
    for _ in range(10):
        reply = (await dispatcher.execute_line("/programs", boss, ChatKind.PRIVATE))[0]
        assert "going a little fast" not in reply.text
    clock.advance(seconds=10)
    again = await dispatcher.execute_line("/programs", spammer, ChatKind.PRIVATE)
    assert "going a little fast" not in again[0].text


async def test_limits_are_off_when_the_rate_is_zero(services: Services) -> None:
    dispatcher = Dispatcher(services.registry, services, CommandLimits(per_minute=0))
    actor = Actor("console", "many", "Many")
    for _ in range(30):
        reply = (await dispatcher.execute_line("/help", actor, ChatKind.PRIVATE))[0]
        assert "going a little fast" not in reply.text


async def test_the_local_console_is_never_limited(services: Services) -> None:
    """Issue 16: an affiliate trying the console hit the cooldown after 8 piped commands."""
    dispatcher = Dispatcher(services.registry, services, CommandLimits(per_minute=20, burst=8))
    operator = Actor("console", "ann", "Ann", local=True)
    for _ in range(30):
        reply = (await dispatcher.execute_line("/programs", operator, ChatKind.PRIVATE))[0]
        assert "going a little fast" not in reply.text
    # The same account name without the console's trust is limited as before.
    remote = Actor("console", "ann", "Ann")
    replies = [
        (await dispatcher.execute_line("/programs", remote, ChatKind.PRIVATE))[0] for _ in range(9)
    ]
    assert "going a little fast" in replies[8].text
