"""Managers deciding who is in: /affiliates, /approve, /reject, /suspend, /reinstate.

Every decision is audited and the affiliate hears about it privately (through the outbox,
on every platform they use), in the same transaction as the change.
"""

from __future__ import annotations

from commands.core import notify
from commands.core.catalog import command
from commands.core.errors import Refused
from commands.core.invocation import Invocation
from commands.core.programs import program_named
from commands.core.registry import Audience, Param, ParamKind
from commands.core.reply import Reply, Table, Visibility
from commands.core.validation import slug
from commands.core.who import label, resolve, who_param
from commands.core.words import sentence
from storage import Store
from storage.affiliates import Membership, MembershipStatus
from storage.audit import AuditEntry
from storage.programs import Program

MAX_ROWS = 50
_PROGRAM = Param(
    "program",
    "Only this program (default: every request that is waiting)",
    required=False,
    parse=slug,
    autocomplete="program",
)


@command(
    "affiliates",
    "List affiliates, or the requests waiting for approval",
    params=[
        Param(
            "status",
            "pending (waiting for approval), active, suspended or all",
            kind=ParamKind.CHOICE,
            choices=("pending", "active", "suspended", "all"),
            required=False,
            default="all",
        )
    ],
    audience=Audience.MANAGER,
    examples=("/affiliates pending", "/affiliates"),
    private=True,
)
async def list_affiliates(invocation: Invocation, status: str) -> Reply:
    """Lists affiliates with their id, alias, status, programs and platforms. With
    pending, lists the join requests that wait for /approve or /reject."""
    async with invocation.database.read() as store:
        programs = {program.id: program for program in await store.programs.list()}
        if status == "pending":
            return await _pending(store, programs)
        chosen = await store.affiliates.all_affiliates(
            status=None if status == "all" else status  # type: ignore[arg-type]
        )
        identities = await store.affiliates.identities_of_many(a.id for a in chosen)
        rows = []
        for affiliate in chosen[:MAX_ROWS]:
            memberships = await store.affiliates.memberships_of(affiliate.id)
            rows.append(
                (
                    f"#{affiliate.id}",
                    affiliate.display_name,
                    affiliate.alias or "",
                    affiliate.status,
                    ", ".join(_membership_label(m, programs) for m in memberships) or "none",
                    ", ".join(sorted({i.platform for i in identities[affiliate.id]})),
                )
            )
    if not rows:
        return Reply(text=f"No affiliates ({status}).", visibility=Visibility.PRIVATE)
    notes = (
        [f"{len(chosen)} in all; showing the first {MAX_ROWS}."] if len(chosen) > MAX_ROWS else []
    )
    return Reply(
        title=f"Affiliates ({status})",
        table=Table(("id", "name", "alias", "status", "programs", "platforms"), tuple(rows)),
        notes=(*notes, "Name one in other commands by #id, alias or mention."),
        visibility=Visibility.PRIVATE,
    )


async def _pending(store: Store, programs: dict[int, Program]) -> Reply:
    waiting = await store.affiliates.memberships_with_status("pending")
    rows = []
    for membership in waiting[:MAX_ROWS]:
        affiliate = await store.affiliates.get(membership.affiliate_id)
        if affiliate is None:
            continue
        rows.append(
            (
                f"#{affiliate.id}",
                affiliate.display_name,
                programs[membership.program_id].slug,
                membership.created_at.date().isoformat(),
            )
        )
    if not rows:
        return Reply(text="No join requests are waiting.", visibility=Visibility.PRIVATE)
    return Reply(
        title="Join requests waiting",
        table=Table(("id", "name", "program", "since"), tuple(rows)),
        notes=("Decide with /approve <who> [program] or /reject <who> [program].",),
        visibility=Visibility.PRIVATE,
    )


def _membership_label(membership: Membership, programs: dict[int, Program]) -> str:
    slug_text = programs[membership.program_id].slug
    return slug_text if membership.status == "approved" else f"{slug_text} ({membership.status})"


@command(
    "approve",
    "Approve an affiliate's request to join a program",
    params=[who_param(), _PROGRAM],
    audience=Audience.MANAGER,
    examples=("/approve @ann", "/approve #12 spring-sale"),
)
async def approve(invocation: Invocation, who: str, program: str | None) -> Reply:
    """Approves the affiliate's waiting join requests (or only the named program's; a
    request rejected earlier can be approved too). They hear back privately and can get
    their link at once."""
    return await _decide(invocation, who, program, "approved")


@command(
    "reject",
    "Decline an affiliate's request to join a program",
    params=[who_param(), _PROGRAM],
    audience=Audience.MANAGER,
    examples=("/reject @ann", "/reject #12 spring-sale"),
)
async def reject(invocation: Invocation, who: str, program: str | None) -> Reply:
    """Declines the affiliate's waiting join requests (or only the named program's).
    They are told privately."""
    return await _decide(invocation, who, program, "rejected")


async def _decide(
    invocation: Invocation, who: str, program: str | None, decision: MembershipStatus
) -> Reply:
    undecided = ("pending", "rejected") if decision == "approved" else ("pending",)
    now = invocation.now
    actor = invocation.actor.label
    async with invocation.database.transaction() as store:
        affiliate = await resolve(store, who, platform=invocation.actor.platform)
        memberships = await store.affiliates.memberships_of(affiliate.id)
        if program is not None:
            found = await program_named(store, program)
            memberships = [m for m in memberships if m.program_id == found.id]
            if not memberships:
                raise Refused(f"{label(affiliate)} has not asked to join {found.slug}.")
        chosen = [m for m in memberships if m.status in undecided]
        if not chosen:
            raise Refused(f"{label(affiliate)} has no join request waiting for a decision.")
        decided = []
        for membership in chosen:
            target = await store.programs.get(membership.program_id)
            if target is None:  # pragma: no cover - memberships cascade with programs
                continue
            await store.affiliates.decide(affiliate.id, target.id, decision, now=now, by=actor)
            await store.audit.record(
                AuditEntry(
                    actor=actor,
                    action=f"membership.{'approve' if decision == 'approved' else 'reject'}",
                    subject=f"affiliate:{affiliate.id}",
                    before={"program": target.slug, "status": membership.status},
                    after={"program": target.slug, "status": decision},
                    occurred_at=now,
                )
            )
            note = _decision_note(target, decision)
            key = f"membership:{affiliate.id}:{target.id}:{decision}:{now.isoformat()}"
            await store.outbox.enqueue(
                await notify.to_affiliate(store, affiliate.id, note, key), now=now
            )
            decided.append(target.slug)
    verb = "Approved" if decision == "approved" else "Declined"
    return Reply(
        text=f"{verb} {label(affiliate)} for {', '.join(decided)}. They are told privately."
    )


def _decision_note(program: Program, decision: MembershipStatus) -> Reply:
    if decision == "approved":
        return Reply(
            title=f"Welcome to {program.name}",
            text=f"Your request was approved. Get your referral link with /link {program.slug}.",
        )
    return Reply(
        title=f"{program.name}",
        text="Your request to join was declined. Ask a program manager if you have questions.",
    )


@command(
    "suspend",
    "Suspend an affiliate: no new links, no new commission",
    params=[
        who_param(),
        Param(
            "reason",
            "Why (the affiliate is told)",
            required=False,
            greedy=True,
            max_length=500,
        ),
    ],
    audience=Audience.MANAGER,
    examples=("/suspend @ann cookie stuffing", "/suspend #12"),
)
async def suspend(invocation: Invocation, who: str, reason: str | None) -> Reply:
    """Suspends an affiliate. They can still see /stats and /earnings, but get no new
    links and cannot join programs until reinstated. Sales reported meanwhile are recorded
    but earn no commission, even after reinstatement; commission they had already earned
    is withheld (not paid by /payout mark) until you /reinstate them, and you can reverse
    what you will not pay. They are told privately, with the reason if you give one."""
    return await _set_status(invocation, who, "suspended", reason)


@command(
    "reinstate",
    "Lift an affiliate's suspension",
    params=[who_param()],
    audience=Audience.MANAGER,
    examples=("/reinstate @ann",),
)
async def reinstate(invocation: Invocation, who: str) -> Reply:
    """Reinstates a suspended affiliate; they are told privately and can get links again.
    Commission withheld during the suspension is payable again by the usual rules; sales
    reported while they were suspended stay without commission."""
    return await _set_status(invocation, who, "active", None)


async def _set_status(invocation: Invocation, who: str, status: str, reason: str | None) -> Reply:
    now = invocation.now
    async with invocation.database.transaction() as store:
        affiliate = await resolve(store, who, platform=invocation.actor.platform)
        if affiliate.status == status:
            state = "suspended" if status == "suspended" else "not suspended"
            raise Refused(f"{label(affiliate)} is already {state}.")
        await store.affiliates.set_status(
            affiliate.id, "suspended" if status == "suspended" else "active", reason=reason
        )
        await store.audit.record(
            AuditEntry(
                actor=invocation.actor.label,
                action="affiliate.suspend" if status == "suspended" else "affiliate.reinstate",
                subject=f"affiliate:{affiliate.id}",
                before={"status": affiliate.status, "reason": affiliate.suspended_reason},
                after={"status": status, "reason": reason},
                occurred_at=now,
            )
        )
        note = _status_note(status, reason)
        key = f"affiliate-status:{affiliate.id}:{status}:{now.isoformat()}"
        await store.outbox.enqueue(
            await notify.to_affiliate(store, affiliate.id, note, key), now=now
        )
    invocation.services.link_changes.changed()
    done = "Suspended" if status == "suspended" else "Reinstated"
    return Reply(text=f"{done} {label(affiliate)}. They are told privately.")


def _status_note(status: str, reason: str | None) -> Reply:
    if status == "suspended":
        because = f" Reason: {sentence(reason)}" if reason else ""
        return Reply(
            title="Your affiliate account is suspended",
            text=(
                "A program manager suspended your account, so no new links are given out "
                "and sales reported meanwhile earn no commission; what you had earned is "
                f"withheld until your account is reinstated.{because} You can still see "
                "/stats and /earnings."
            ),
        )
    return Reply(
        title="Your affiliate account is active again",
        text=(
            "A program manager lifted your suspension. /link gives out links again, and "
            "withheld commission is paid with the usual payouts."
        ),
    )
