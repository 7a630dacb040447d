"""/schedule: managers add, list and remove scheduled posts (leaderboards, feedback, …)."""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime
from zoneinfo import ZoneInfo

from commands.broadcasts import cron
from commands.core import calendar
from commands.core.catalog import command
from commands.core.errors import NotFound, UsageError
from commands.core.invocation import Invocation
from commands.core.programs import program_named
from commands.core.registry import Audience, Param, ParamKind
from commands.core.reply import Reply, Table
from commands.core.validation import slug
from storage.audit import AuditEntry
from storage.schedules import NewSchedule, Schedule, ScheduleKind, ScheduleTarget

_KINDS: dict[str, ScheduleKind] = {
    "leaderboard": "leaderboard",
    "feedback": "feedback",
    "report": "report",
    "announcement": "announcement",
}
KINDS = tuple(_KINDS)
_TARGET = re.compile(r"^(telegram|discord|console):(-?[A-Za-z0-9_]{1,64})$")


def time_zone(text: str) -> str:
    """An IANA time zone name such as Europe/Berlin."""
    try:
        ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{text!r} is not a time zone; use a name like Europe/Berlin") from None
    return text


def targets(text: str) -> tuple[ScheduleTarget, ...]:
    """``telegram:-100123,discord:5551234``: chats to post to instead of the defaults."""
    found = []
    for part in text.split(","):
        match = _TARGET.match(part.strip())
        if match is None:
            raise ValueError(
                f"{part.strip()!r} is not a chat: write platform:id, like telegram:-1001234"
            )
        found.append(ScheduleTarget(match.group(1), match.group(2)))
    return tuple(found)


def next_run(schedule_cron: str, timezone: str, now: datetime) -> str:
    """The next firing in the schedule's own time zone, for people to read."""
    upcoming = cron.trigger(schedule_cron, timezone).get_next_fire_time(None, now)
    if upcoming is None:
        return "never"
    return f"{upcoming.astimezone(ZoneInfo(timezone)):%a %d %b %H:%M} {timezone}"


@command(
    "schedule add",
    "Schedule a recurring post: leaderboard, feedback, report or announcement",
    params=[
        Param("kind", "What to post", kind=ParamKind.CHOICE, choices=KINDS),
        Param(
            "when",
            'A cron line in quotes: minute hour day month weekday, like "0 9 * * mon"',
            parse=cron.normalise,
            max_length=64,
        ),
        Param(
            "period",
            "The period it reports on (default last-week)",
            kind=ParamKind.CHOICE,
            choices=tuple(p for p in calendar.PERIODS if p != "all"),
            required=False,
            default="last-week",
            option=True,
        ),
        Param(
            "timezone",
            "Time zone of the cron line (default: the bot's)",
            parse=time_zone,
            required=False,
            option=True,
            max_length=64,
        ),
        Param(
            "program",
            "Only this program (leaderboards)",
            parse=slug,
            required=False,
            option=True,
            max_length=32,
        ),
        Param(
            "to",
            "Chats instead of the announcement channels, like telegram:-1001234",
            parse=targets,
            required=False,
            option=True,
            max_length=500,
        ),
        Param(
            "message",
            "The text of an announcement, in quotes",
            required=False,
            option=True,
            max_length=2000,
            multiline=True,
        ),
    ],
    audience=Audience.MANAGER,
    examples=(
        '/schedule add leaderboard "0 9 * * mon"',
        '/schedule add announcement "0 12 1 * *" --message "New month, new offer: /programs"',
        '/schedule add report "0 8 * * *" --period today --timezone Europe/Berlin',
    ),
)
async def schedule_add(
    invocation: Invocation,
    kind: str,
    when: str,
    period: str,
    timezone: str | None,
    program: str | None,
    to: tuple[ScheduleTarget, ...] | None,
    message: str | None,
) -> Reply:
    """Adds a schedule that posts on its own. Leaderboards go to the announcement channels
    (or the chats given with --to) and are archived, so a posted week can be shown again
    later. Feedback sends every affiliate their own numbers privately. Reports go to the
    managers. Announcements post the --message text. The time is a cron line in quotes:
    "0 9 * * mon" is Mondays at 09:00, "0 12 1 * *" the 1st of every month at noon. Each
    time is posted once, even if the bot restarts; a post missed while the bot was down is
    sent when it starts again (within a day)."""
    if kind == "announcement" and not message:
        raise UsageError('an announcement needs its text: --message "..."')
    if kind != "announcement" and message:
        raise UsageError("--message is only for announcements")
    zone = timezone or invocation.settings.timezone.key
    async with invocation.database.transaction() as store:
        program_id = None
        if program is not None:
            program_id = (await program_named(store, program)).id
        schedule = await store.schedules.add(
            NewSchedule(
                kind=_KINDS[kind],
                cron=when,
                timezone=zone,
                period=period,
                targets=to or (),
                program_id=program_id,
                message=message,
                created_by=invocation.actor.label,
            ),
            now=invocation.now,
        )
        await store.audit.record(
            AuditEntry(
                actor=invocation.actor.label,
                action="schedule.add",
                subject=f"schedule:{schedule.id}",
                before=None,
                after={"kind": kind, "cron": when, "timezone": zone, "period": period},
                occurred_at=invocation.now,
            )
        )
    reporting = "" if kind == "announcement" else f", reporting {period}"
    return Reply(
        text=(
            f'Schedule #{schedule.id} added: {kind} at "{when}" ({zone}){reporting}. '
            f"Next: {next_run(when, zone, invocation.now)}."
        )
    )


@command(
    "schedule list",
    "Show the scheduled posts",
    audience=Audience.MANAGER,
    examples=("/schedule list",),
)
async def schedule_list(invocation: Invocation) -> Reply:
    """Lists every active schedule with its kind, timing, time zone, period, where it
    posts and when it runs next."""
    async with invocation.database.read() as store:
        schedules = await store.schedules.all()
    if not schedules:
        return Reply(text="No schedules. Add one with /schedule add.")
    return Reply(
        title="Schedules",
        table=Table(
            ("#", "kind", "when", "period", "to", "next"),
            tuple(_row(schedule, invocation.now) for schedule in schedules),
        ),
        notes=("Remove one with /schedule remove <number>.",),
    )


def _row(schedule: Schedule, now: datetime) -> tuple[str, ...]:
    where = ", ".join(t.label for t in schedule.targets) or (
        "each affiliate" if schedule.kind == "feedback" else "default channels"
    )
    if schedule.kind == "report" and not schedule.targets:
        where = "managers"
    return (
        str(schedule.id),
        schedule.kind,
        schedule.cron,
        schedule.period,
        where,
        next_run(schedule.cron, schedule.timezone, now),
    )


@command(
    "schedule remove",
    "Stop a scheduled post",
    params=[
        Param(
            "number",
            "The schedule's number from /schedule list",
            kind=ParamKind.INTEGER,
            minimum=1,
        )
    ],
    audience=Audience.MANAGER,
    examples=("/schedule remove 3",),
)
async def schedule_remove(invocation: Invocation, number: int) -> Reply:
    """Stops a schedule for good. Messages it already queued are still delivered. The
    default weekly schedules stay removed after a restart."""
    async with invocation.database.transaction() as store:
        schedule = await store.schedules.get(number)
        if schedule is None or not await store.schedules.disable(number):
            raise NotFound(f"There is no active schedule #{number}. See /schedule list.")
        await store.audit.record(
            AuditEntry(
                actor=invocation.actor.label,
                action="schedule.remove",
                subject=f"schedule:{number}",
                before={"kind": schedule.kind, "cron": schedule.cron},
                after=None,
                occurred_at=invocation.now,
            )
        )
    return Reply(text=f'Schedule #{number} ({schedule.kind}, "{schedule.cron}") removed.')
