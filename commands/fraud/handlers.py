"""/fraud: the open fraud flags, a manager's decision on one, and the hold switch.

Flags are raised by the rules in ``fraud_clicks`` and ``fraud_conversions``. Approving a
flag releases the conversions it held (they become approved); rejecting it reverses them.
Either way the flag is closed and the decision goes to the audit log.
"""

from __future__ import annotations

import logging

from commands.core import calendar
from commands.core.catalog import command
from commands.core.errors import NotFound, Refused
from commands.core.invocation import Invocation
from commands.core.programs import program_named
from commands.core.registry import Audience, Param, ParamKind
from commands.core.reply import Reply, Table, Visibility
from commands.core.validation import slug
from commands.core.words import plural
from commands.fraud.flags import describe
from commands.tracking import settle_held
from storage import Store
from storage.audit import AuditEntry
from storage.conversions import ConversionStatus
from storage.fraud import Flag, FlagStatus

log = logging.getLogger(__name__)

DECISIONS = ("approve", "reject")
PRIVATE = Visibility.PRIVATE  # flags name affiliates and their numbers


@command(
    "fraud",
    "Open fraud flags: suspicious clicks and conversions to review",
    params=[
        Param(
            "period",
            "today, week, last-week, month, last-month or all",
            kind=ParamKind.CHOICE,
            choices=calendar.PERIODS,
            required=False,
            default="all",
        ),
        Param("program", "Only this program", required=False, parse=slug, autocomplete="program"),
    ],
    audience=Audience.MANAGER,
    examples=("/fraud", "/fraud week shop"),
    private=True,
)
async def list_flags(invocation: Invocation, period: str, program: str | None) -> Reply:
    """Lists open fraud flags, newest first (up to 50).

    Each flag names the rule that fired (a click flood from one visitor or network, a
    conversion too soon after its click or without one, a transaction id used in another
    program, a burst of reversals or of signup referrals, a customer who is the affiliate
    (their own chat account, or an address they checked their own link from), many
    customers behind one customer IP) and its evidence: counts, times and visitor hashes,
    never addresses. A rule that fires again for the same affiliate and program while
    its flag is open counts into that flag (seen: how often, and when last) instead of
    raising another one. Settle one with /fraud review.
    """
    span = calendar.period(period, invocation.now, invocation.settings.timezone)
    async with invocation.database.read() as store:
        program_id = None
        if program is not None:
            program_id = (await program_named(store, program)).id
        flags = await store.fraud.open_flags(since=span.start, program_id=program_id)
        held = {flag.id: await store.fraud.conversions_of(flag.id) for flag in flags}
    if not flags:
        return Reply(text=f"No open fraud flags ({span.label}).", visibility=PRIVATE)
    zone = invocation.settings.timezone
    rows = tuple(
        (
            f"#{flag.id}",
            flag.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            flag.rule,
            f"#{flag.affiliate_id}" if flag.affiliate_id is not None else "-",
            str(len(held[flag.id])),
            _seen(flag, invocation),
            describe(flag.rule, flag.evidence),
        )
        for flag in flags
    )
    return Reply(
        title=f"Open fraud flags ({span.label})",
        table=Table(
            ("flag", "raised", "rule", "affiliate", "conversions", "seen", "evidence"), rows
        ),
        notes=("Settle one with /fraud review <flag> approve|reject.",),
        visibility=PRIVATE,
    )


@command(
    "fraud review",
    "Settle a fraud flag: approve releases held conversions, reject reverses them",
    params=[
        Param("flag", "The flag number", kind=ParamKind.INTEGER, minimum=1),
        Param("decision", "approve or reject", kind=ParamKind.CHOICE, choices=DECISIONS),
    ],
    audience=Audience.MANAGER,
    examples=("/fraud review 12 approve", "/fraud review 12 reject"),
    private=True,
)
async def review(invocation: Invocation, flag: int, decision: str) -> Reply:
    """Settles one open fraud flag.

    approve: the traffic was fine. Conversions the flag held are approved (unless another
    open flag still holds them). reject: the conversions it names are reversed, so they
    earn nothing. The decision is kept in the audit log.
    """
    async with invocation.database.transaction() as store:
        found = await store.fraud.get(flag)
        if found is None:
            raise NotFound(f"There is no fraud flag #{flag}.")
        if found.status != "open":
            raise Refused(f"Flag #{flag} was already settled ({found.status}).")
        status: FlagStatus = "approved" if decision == "approve" else "rejected"
        await store.fraud.decide(flag, status, by=invocation.actor.label, now=invocation.now)
        changed = await _settle_conversions(store, found, decision, invocation)
        await store.audit.record(
            AuditEntry(
                actor=invocation.actor.label,
                action=f"fraud.{decision}",
                subject=f"fraud_flag:{flag}",
                before={"status": "open", "rule": found.rule},
                after={"status": status, "conversions": changed},
                occurred_at=invocation.now,
            )
        )
    verb = "approved" if decision == "approve" else "reversed"
    detail = (
        plural(len(changed), " {n} conversion {verb}.", " {n} conversions {verb}.", verb=verb)
        if changed
        else ""
    )
    return Reply(text=f"Flag #{flag} ({found.rule}) {status}.{detail}", visibility=PRIVATE)


@command(
    "fraud hold",
    "Hold a program's flagged conversions pending until a manager decides",
    params=[
        Param("program", "The program", parse=slug, autocomplete="program"),
        Param("state", "on or off", kind=ParamKind.CHOICE, choices=("on", "off")),
    ],
    audience=Audience.MANAGER,
    examples=("/fraud hold shop on",),
    private=True,
)
async def hold(invocation: Invocation, program: str, state: str) -> Reply:
    """Turns holding of flagged conversions on or off for one program.

    With holding on, a conversion that a fraud rule flags is stored as pending, earns no
    commission, and cannot be approved by the network until a manager settles the flag
    with /fraud review.
    """
    async with invocation.database.transaction() as store:
        found = await program_named(store, program)
        before = dict(found.settings.get("fraud") or {})
        after = {**before, "hold": state == "on"}
        document = {**found.settings, "fraud": after}
        await store.program_settings.replace_settings(found.id, document, now=invocation.now)
        await store.audit.record(
            AuditEntry(
                actor=invocation.actor.label,
                action="fraud.hold",
                subject=f"program:{found.slug}",
                before=before,
                after=after,
                occurred_at=invocation.now,
            )
        )
    if state == "on":
        return Reply(
            text=f"{found.name}: flagged conversions are now held for review.", visibility=PRIVATE
        )
    return Reply(text=f"{found.name}: flagged conversions are no longer held.", visibility=PRIVATE)


async def _settle_conversions(
    store: Store, flag: Flag, decision: str, invocation: Invocation
) -> list[int]:
    changed = []
    target: ConversionStatus
    for conversion_id, held in await store.fraud.conversions_of(flag.id):
        conversion = await store.conversions.get(conversion_id)
        if conversion is None:
            continue
        program = await store.programs.get(conversion.program_id)
        if program is None:  # pragma: no cover - conversions cascade with their program
            continue
        if decision == "reject":
            if conversion.status == "reversed":
                continue
            target = "reversed"
        else:
            if not held or conversion.status != "pending":
                continue
            if await store.fraud.other_open_holds(conversion_id, flag.id):
                continue
            target = "approved"
        await settle_held(
            store,
            program,
            conversion,
            target,
            invocation.now,
            invocation.settings.rewards,
            announce=invocation.settings.announce_targets,
        )
        changed.append(conversion_id)
    log.info("fraud flag %s %s: %s conversions changed", flag.id, decision, len(changed))
    return changed


def _seen(flag: Flag, invocation: Invocation) -> str:
    """How often the rule fired into the flag, and when last (for grouped repeats)."""
    if flag.occurrences <= 1:
        return "once"
    last = flag.seen_at.astimezone(invocation.settings.timezone).strftime("%Y-%m-%d %H:%M")
    return f"{flag.occurrences} times, last {last}"
