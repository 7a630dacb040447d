"""/delivery: how the last broadcast went (queued, sent, failed, unreachable)."""

from __future__ import annotations

from commands.core.catalog import command
from commands.core.invocation import Invocation
from commands.core.registry import Audience, Param
from commands.core.reply import Field, Reply


@command(
    "delivery",
    "How the last broadcast is going: queued, sent, failed, unreachable",
    params=[
        Param(
            "broadcast",
            "A broadcast key (default: the most recent one)",
            required=False,
            max_length=100,
        )
    ],
    audience=Audience.MANAGER,
    examples=("/delivery",),
)
async def delivery_status(invocation: Invocation, broadcast: str | None) -> Reply:
    """Shows where the most recent broadcast (an announcement, a weekly post, the weekly
    feedback) stands: how many messages are still queued, sent, failed or skipped, and how
    many recipients could not be reached because they blocked the bot or closed their DMs.
    Unreachable people are not messaged again until they talk to the bot."""
    async with invocation.database.read() as store:
        if broadcast is None:
            latest = await store.outbox.latest_broadcast()
            if latest is None:
                return Reply(text="Nothing has been broadcast yet.")
            broadcast = latest.key
        counts = await store.outbox.counts(broadcast)
        failures = await store.outbox.recent_failures(broadcast)
    if counts.total == 0:
        return Reply(text=f"There is no broadcast {broadcast!r}.")
    fields = (
        Field("Queued", f"{counts.queued + counts.sending:,}"),
        Field("Sent", f"{counts.sent:,}"),
        Field("Failed", f"{counts.failed:,}"),
        Field("Unreachable", f"{counts.unreachable:,}"),
        Field("Skipped", f"{counts.skipped:,}"),
    )
    notes = []
    if failures:
        notes.append(
            "Recent failures: "
            + "; ".join(f"{platform}:{target} — {reason}" for platform, target, reason in failures)
        )
    if counts.queued + counts.sending == 0:
        notes.append(f"Done: {counts.sent:,} of {counts.total:,} delivered.")
    return Reply(title=f"Delivery of {broadcast}", fields=fields, notes=tuple(notes))
