"""Every command × every kind of caller, through the console dispatcher.

Audience as documented in docs/COMMANDS.md: ``anyone`` runs for everybody, ``affiliate``
for anyone enrolled (pending, active or suspended: the handler then explains what their
status allows), ``manager`` only for managers, refused with the documented sentence and
logged. No caller ever gets the internal-error apology, and no command shows one
affiliate another affiliate's private numbers.
"""

from __future__ import annotations

from datetime import timedelta

from commands.core import catalog
from commands.core.dispatcher import Dispatcher
from commands.core.invocation import Actor, ChatKind
from commands.core.registry import Audience, CommandSpec
from commands.core.reply import Reply
from storage import Database
from tests.conftest import Clock
from tests.core_seed import add_clicks, add_conversion

SPECS = sorted(catalog.load(), key=lambda spec: spec.name)
ROLES = ("anonymous", "pending", "affiliate", "suspended", "manager")
ENROLLED = {"pending", "affiliate", "suspended"}
SECRET_COMMISSION = 98_765  # bob's commission in minor units: 987.65 must never leak


def expected_allowed(spec: CommandSpec, role: str) -> bool:
    if spec.audience is Audience.MANAGER:
        return role == "manager"
    if spec.audience is Audience.AFFILIATE:
        return role in ENROLLED
    return True


def text_of(reply: Reply) -> str:
    parts = [reply.title or "", reply.text, *reply.notes]
    parts += [f"{field.name} {field.value}" for field in reply.fields]
    if reply.table is not None:
        parts += [" ".join(row) for row in (reply.table.headers, *reply.table.rows)]
    return "\n".join(part for part in parts if part)


async def _seed(dispatcher: Dispatcher, database: Database, clock: Clock) -> dict[str, Actor]:
    actors = {
        "anonymous": Actor("console", "anon", "Anon"),
        "pending": Actor("console", "pat", "Pat"),
        "affiliate": Actor("console", "alice", "Alice"),
        "suspended": Actor("console", "sam", "Sam"),
        "manager": Actor("console", "boss", "Boss", is_manager=True),
    }
    boss = actors["manager"]
    for line in (
        "/program add shop https://shop.example/ 10%",
        "/program add vip https://vip.example/ 10% --approval",
    ):
        await dispatcher.execute_line(line, boss, ChatKind.PRIVATE)
    for user in ("alice", "sam", "bob"):
        await dispatcher.execute_line(
            "/join shop", Actor("console", user, user.title()), ChatKind.PRIVATE
        )
    await dispatcher.execute_line("/join vip", actors["pending"], ChatKind.PRIVATE)
    async with database.transaction() as store:
        sam = await store.affiliates.by_identity("console", "sam")
        pat = await store.affiliates.by_identity("console", "pat")
        vip = await store.programs.by_slug("vip")
        assert sam is not None
        assert pat is not None
        assert vip is not None
        await store.affiliates.set_status(sam.id, "suspended", reason="test")
        membership = await store.affiliates.membership(pat.id, vip.id)
    assert membership is not None
    assert membership.status == "pending"
    at = clock.now - timedelta(hours=1)
    await add_clicks(database, "bob", "shop", 7, at)
    await add_conversion(
        database, "bob", "shop", at=at, commission=SECRET_COMMISSION, status="approved"
    )
    return actors


async def test_every_command_for_every_kind_of_caller(
    dispatcher: Dispatcher, database: Database, clock: Clock
) -> None:
    actors = await _seed(dispatcher, database, clock)
    results: list[tuple[str, str, bool, str]] = []
    for spec in SPECS:
        assert spec.examples, f"/{spec.name} needs an example for the matrix"
        for role in ROLES:
            replies = await dispatcher.execute_line(
                spec.examples[0], actors[role], ChatKind.PRIVATE
            )
            text = "\n".join(text_of(reply) for reply in replies)
            assert "something went wrong" not in text, (spec.name, role, text)
            refused_manager = text == f"/{spec.name} is for program managers only."
            refused_enrolment = text.startswith("You are not an affiliate yet")
            allowed = not (refused_manager or refused_enrolment)
            results.append((spec.name, role, allowed, text))
            if role != "manager" and spec.name != "leaderboard":
                # Another affiliate's commission never reaches a non-manager.
                assert "987.65" not in text, (spec.name, role, text)
    wrong = [
        (name, role, allowed)
        for name, role, allowed, _ in results
        if allowed != expected_allowed(next(s for s in SPECS if s.name == name), role)
    ]
    assert wrong == []
    assert len(results) == len(SPECS) * len(ROLES)


async def test_private_numbers_stay_with_their_owner(
    dispatcher: Dispatcher, database: Database, clock: Clock
) -> None:
    actors = await _seed(dispatcher, database, clock)
    bob = Actor("console", "bob", "Bob")
    own = await dispatcher.execute_line("/earnings", bob, ChatKind.PRIVATE)
    assert "987.65" in text_of(own[0])  # bob sees his own
    assert own[0].private
    for line in ("/earnings", "/stats", "/stats all"):
        for role in ("affiliate", "pending", "suspended"):
            replies = await dispatcher.execute_line(line, actors[role], ChatKind.PRIVATE)
            assert all("987.65" not in text_of(reply) for reply in replies)
