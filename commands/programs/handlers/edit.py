"""Managers changing programs: /program edit, /program pause and /program resume.

Every change is audited; pausing and resuming are announced to the program's affiliates
and the announcement channels in the same transaction.
"""

from __future__ import annotations

from typing import Any

from commands.core import notify
from commands.core.catalog import command
from commands.core.errors import Refused
from commands.core.invocation import Invocation
from commands.core.money import check_currency, to_minor
from commands.core.programs import program_named
from commands.core.registry import Audience, Param, ParamKind
from commands.core.reply import Reply
from commands.core.validation import destination_url, slug
from commands.core.words import plural
from commands.tracking import known_placeholders_only
from storage.audit import AuditEntry
from storage.programs import ProgramStatus

_NONE_WORDS = frozenset({"none", "off", "-"})
# What each changed column is called in the answer to /program edit (never a column name).
_CHANGED_LABELS = {
    "name": "name",
    "destination_url": "destination URL",
    "fallback_url": "fallback URL",
    "attribution_days": "attribution window",
    "approval_required": "approval",
    "holding_days": "holding days",
    "min_payout_minor": "minimum payout",
    "materials": "materials",
}


def _optional_url(text: str) -> str:
    """A fallback URL, or ``none`` to remove it."""
    return "" if text.lower() in _NONE_WORDS else destination_url(text)


def _yes_no(text: str) -> bool:
    lowered = text.lower()
    if lowered in {"yes", "on", "true"}:
        return True
    if lowered in {"no", "off", "false"}:
        return False
    raise ValueError(f"{text!r} is not yes or no")


def _amount(text: str) -> tuple[str, str | None]:
    """``50`` or ``50 USD``: the number as typed and the currency, if given."""
    number, _, unit = text.strip().partition(" ")
    currency = check_currency(unit) if unit.strip() else None
    to_minor(number, currency or "USD")  # validates the number; precision is checked later
    return number, currency


def _text(name: str, description: str, max_length: int) -> Param:
    return Param(name, description, required=False, option=True, max_length=max_length)


@command(
    "program edit",
    "Change a program's settings or materials",
    params=[
        Param("program", "The program to change", parse=slug, autocomplete="program"),
        _text("name", "New display name", 100),
        Param(
            "destination_url",
            "Where clicks go",
            kind=ParamKind.URL,
            required=False,
            option=True,
            parse=destination_url,
            max_length=2000,
        ),
        Param(
            "fallback_url",
            "Where clicks go while paused or capped (none to remove)",
            kind=ParamKind.URL,
            required=False,
            option=True,
            parse=_optional_url,
            max_length=2000,
        ),
        Param(
            "window",
            "Attribution window in days",
            kind=ParamKind.INTEGER,
            required=False,
            option=True,
            minimum=1,
            maximum=365,
        ),
        Param(
            "approval",
            "Whether new affiliates wait for approval: yes or no",
            kind=ParamKind.CHOICE,
            choices=("yes", "no"),
            required=False,
            option=True,
            parse=_yes_no,
        ),
        Param(
            "holding_days",
            "Days an approved commission is held before it is payable",
            kind=ParamKind.INTEGER,
            required=False,
            option=True,
            minimum=0,
            maximum=365,
        ),
        Param(
            "min_payout",
            "Smallest balance paid out, in the program currency (50 or 50 USD)",
            required=False,
            option=True,
            parse=_amount,
            max_length=30,
        ),
        Param(
            "guidelines",
            "Rules for promoting the program (replaces the old ones)",
            required=False,
            option=True,
            parse=known_placeholders_only,
            max_length=2000,
        ),
        Param(
            "banner",
            "Add a banner image link to the materials",
            kind=ParamKind.URL,
            required=False,
            option=True,
            parse=destination_url,
            max_length=2000,
        ),
        Param(
            "sample_post",
            "Add a ready-to-use post to the materials; {link} becomes each affiliate's link",
            required=False,
            option=True,
            parse=known_placeholders_only,
            max_length=2000,
        ),
        Param("clear_materials", "Remove all materials first", kind=ParamKind.FLAG),
    ],
    audience=Audience.MANAGER,
    examples=(
        "/program edit spring-sale --window 45 --approval yes",
        '/program edit spring-sale --guidelines "No paid search on our brand."',
        "/program edit spring-sale --banner https://cdn.example/banner.png",
    ),
)
async def edit_program(
    invocation: Invocation,
    program: str,
    name: str | None,
    destination_url: str | None,
    fallback_url: str | None,
    window: int | None,
    approval: bool | None,
    holding_days: int | None,
    min_payout: tuple[str, str | None] | None,
    guidelines: str | None,
    banner: str | None,
    sample_post: str | None,
    clear_materials: bool,
) -> Reply:
    """Changes a program. Give only the options you want to change: --name,
    --destination-url, --fallback-url (none removes it), --window (attribution days),
    --approval yes|no, --holding-days, --min-payout, and the materials affiliates see with
    /materials: --guidelines, --banner (adds one), --sample-post (adds one) and
    --clear-materials. In guidelines and sample posts, {link} is filled in with each
    affiliate's own link and {program} with the program's name (in /materials and in
    /link's share text); a post without {link} gets the link added at the end in /link.
    Commission has its own command, /commission."""
    async with invocation.database.transaction() as store:
        found = await program_named(store, program)
        changes: dict[str, object] = {
            key: value
            for key, value in {
                "name": name,
                "destination_url": destination_url,
                "attribution_days": window,
                "approval_required": approval,
                "holding_days": holding_days,
            }.items()
            if value is not None
        }
        if fallback_url is not None:
            changes["fallback_url"] = fallback_url or None
        if min_payout is not None:
            number, currency = min_payout
            if currency is not None and currency != found.currency:
                raise Refused(f"{found.slug} pays out in {found.currency}, not {currency}.")
            try:
                changes["min_payout_minor"] = to_minor(number, found.currency)
            except ValueError as error:
                raise Refused(f"{error}.") from None
        materials = _edited_materials(
            found.materials, guidelines, banner, sample_post, clear=clear_materials
        )
        if materials != found.materials:
            changes["materials"] = materials
        if not changes:
            raise Refused("Nothing to change: give at least one option. See /help program edit.")
        before = {key: getattr(found, key) for key in changes}
        await store.programs.edit(found.id, now=invocation.now, **changes)
        await store.audit.record(
            AuditEntry(
                actor=invocation.actor.label,
                action="program.edit",
                subject=f"program:{found.slug}",
                before=before,
                after=changes,
                occurred_at=invocation.now,
            )
        )
    invocation.services.link_changes.changed()
    return Reply(
        title=f"Program {found.slug} updated",
        text="Changed: " + ", ".join(_CHANGED_LABELS[key] for key in changes) + ".",
    )


def _edited_materials(
    current: dict[str, Any],
    guidelines: str | None,
    banner: str | None,
    sample_post: str | None,
    *,
    clear: bool,
) -> dict[str, Any]:
    materials: dict[str, Any] = {} if clear else dict(current)
    if guidelines is not None:
        materials["guidelines"] = guidelines
    if banner is not None:
        materials["banners"] = [*materials.get("banners", []), banner]
    if sample_post is not None:
        materials["posts"] = [*materials.get("posts", []), sample_post]
    return materials


_PROGRAM_PARAM = Param("program", "The program", parse=slug, autocomplete="program")


@command(
    "program pause",
    "Pause a program: no new links; clicks go to its fallback or page, uncounted",
    params=[_PROGRAM_PARAM],
    audience=Audience.MANAGER,
    examples=("/program pause spring-sale",),
)
async def pause_program(invocation: Invocation, program: str) -> Reply:
    """Pauses a program. No new links are handed out; clicks on existing links go to the
    fallback URL, or when there is none to the program's page (its destination without
    click ids or other per-click parts), and are not counted. The program's affiliates
    and the announcement channels are told."""
    return await _set_program_status(invocation, program, "paused")


@command(
    "program resume",
    "Resume a paused program",
    params=[_PROGRAM_PARAM],
    audience=Audience.MANAGER,
    examples=("/program resume spring-sale",),
)
async def resume_program(invocation: Invocation, program: str) -> Reply:
    """Resumes a paused program; its affiliates and the announcement channels are told."""
    return await _set_program_status(invocation, program, "active")


async def _set_program_status(
    invocation: Invocation, program: str, status: ProgramStatus
) -> Reply:
    now = invocation.now
    async with invocation.database.transaction() as store:
        found = await program_named(store, program)
        if found.status == status:
            raise Refused(
                f"{found.slug} is already {'paused' if status == 'paused' else 'running'}."
            )
        await store.programs.set_status(found.id, status, now=now)
        await store.audit.record(
            AuditEntry(
                actor=invocation.actor.label,
                action="program.pause" if status == "paused" else "program.resume",
                subject=f"program:{found.slug}",
                before={"status": found.status},
                after={"status": status},
                occurred_at=now,
            )
        )
        announcement = (
            Reply(
                title=f"{found.name} is paused",
                text=(
                    "Clicks on your links go to "
                    + ("the program's fallback page" if found.fallback_url else "its page")
                    + " for now and do not count; new links wait until the program resumes."
                ),
            )
            if status == "paused"
            else Reply(
                title=f"{found.name} is running again",
                text=f"Your links count again. Get one with /link {found.slug}.",
            )
        )
        key = f"program-status:{found.id}:{status}:{now.isoformat()}"
        members = await notify.program_members(store, found.id)
        await store.outbox.enqueue(
            [
                *await notify.to_affiliates(store, members, announcement, key),
                *notify.to_channels(invocation.settings, announcement, key),
            ],
            now=now,
        )
    invocation.services.link_changes.changed()
    verb = "Paused" if status == "paused" else "Resumed"
    return Reply(
        text=plural(
            len(members),
            "{verb} {slug}; {n} affiliate is told.",
            "{verb} {slug}; {n} affiliates are told.",
            verb=verb,
            slug=found.slug,
        )
    )
