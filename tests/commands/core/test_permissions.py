"""Manager commands refuse everyone else, and bad input is answered without writing."""

from __future__ import annotations

import logging

import pytest

from commands.core import catalog
from commands.core.dispatcher import Dispatcher
from commands.core.registry import Audience
from storage import Database
from tests.conftest import Chat
from tests.core_seed import console

MANAGER_COMMANDS = sorted(
    spec.name for spec in catalog.load() if spec.audience is Audience.MANAGER
)


async def _written(database: Database) -> tuple[int, int]:
    async with database.read() as store:
        audit = len(await store.audit.recent())
        queued = await store.connection.exec_driver_sql("SELECT count(*) FROM outbox")
        return audit, int(queued.scalar_one())


def test_every_manager_command_of_the_issue_exists() -> None:
    assert set(MANAGER_COMMANDS) >= {
        "program add",
        "program edit",
        "program pause",
        "program resume",
        "commission",
        "target",
        "announce",
        "affiliates",
        "approve",
        "reject",
        "suspend",
        "reinstate",
        "report",
        "payouts",
        "payout mark",
    }


async def test_non_managers_are_refused_and_logged(
    manager: Chat, alice: Chat, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await alice("/join shop")
    before = await _written(database)
    for name in MANAGER_COMMANDS:
        with caplog.at_level(logging.WARNING, logger="commands.core.dispatcher"):
            reply = await alice(f"/{name} shop 15% alice")
        assert reply.text == f"/{name} is for program managers only."
        assert f"refused /{name} for console:alice" in caplog.text
    assert await _written(database) == before


async def test_help_hides_manager_commands_from_affiliates(dispatcher: Dispatcher) -> None:
    out = await console(dispatcher, "/help\n/help report\n", user="alice")
    assert "For managers:" not in out
    assert "/report" not in out.split("== What you can do ==")[1].split("(Type")[0]
    assert "There is no command /report you can use." in out
    boss = await console(dispatcher, "/help\n/help payout mark\n", user="boss", manager=True)
    assert "For managers:" in boss
    assert "Usage: /payout mark <who> <amount> [reference]" in boss
    assert "Example: /payout mark @ann 120.50 USD PAY-2026-118" in boss


BAD_INPUT = [
    ("/program add x https://a.example/ 10%", "'x' is not a valid program name"),
    ("/program add shop2 ftp://a.example/ 10%", "The URL must start with http:// or https://"),
    ("/program add shop2 https://a.example/ 12 percent", "is not a commission"),
    ("/program add shop2 https://a.example/ 150%", "150% is not between 0% and 100%"),
    ("/program edit nope --window 3", 'There is no program called "nope".'),
    ("/program edit shop --window 0", "Window must be at least 1."),
    ("/program edit shop --approval maybe", "Approval must be one of: yes, no."),
    ("/program edit shop --fallback-url javascript:alert(1)", "must start with http"),
    ('/program edit shop --min-payout "5 EUR"', "shop pays out in USD, not EUR."),
    ('/program edit shop --min-payout "5 ABC"', "'ABC' is not an ISO 4217 currency code"),
    ("/program edit shop", "Nothing to change"),
    ("/program pause nope", 'There is no program called "nope".'),
    ("/program resume shop", "shop is already running."),
    ("/commission shop -5%", "is not a commission"),
    ("/commission nope 5%", 'There is no program called "nope".'),
    ("/commission shop 10%", "shop already pays 10% of the sale then."),
    ("/commission shop 15% 2026-02-30", "2026-02-30 is not a real date"),
    ("/commission shop 15% 2020-01-01", "The start date is in the past"),
    ("/commission shop 3 EUR", "shop pays in USD; give the amount in it."),
    ("/target conversions -3 month", "is not a target"),
    ("/target conversions 20 year", "Period must be one of: week, month."),
    ("/target sales 20 month", "Metric must be one of"),
    ("/target revenue 500 month", "Money targets need a program"),
    ("/target conversions 2.5 month", "A conversions target is a whole number."),
    ("/target conversions off month", "There is no such target to remove."),
    ("/target conversions 5 month nobody", "No affiliate matches 'nobody'."),
    ("/announce", "Text is missing."),
    ("/announce " + "x" * 2001, "Text is too long (2001 characters, at most 2000)."),
    ("/affiliates banned", "Status must be one of: pending, active, suspended, all."),
    ("/approve nobody", "No affiliate matches 'nobody'."),
    ("/approve alice", "has no join request waiting for a decision."),
    ("/reject alice nope", 'There is no program called "nope".'),
    ("/suspend", "Who is missing."),
    ("/reinstate alice", "is already not suspended."),
    ("/report year", "Period must be one of"),
    ("/report month nope", 'There is no program called "nope".'),
    ("/payout mark alice 12", "has no payable balance."),
    ("/payout mark alice twelve", "'twelve' is not an amount"),
    ("/payout mark alice 12,50", "'12,50' is not an amount"),
]


async def test_bad_manager_input_names_the_problem_and_writes_nothing(
    manager: Chat, alice: Chat, database: Database
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await alice("/join shop")
    before = await _written(database)
    for line, problem in BAD_INPUT:
        reply = await manager(line)
        assert problem in reply.text, (line, reply.text)
    assert await _written(database) == before
