"""Who may be handed a tracked link, and what a link does right now.

/link hands links out and /materials fills ``{link}`` in sample posts with the same
link, so both ask here; the redirect (in ``bot.web``) decides clicks by the same
facts: program status, the affiliate's status, and a full hard cap.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from commands.caps import describe, reached_hard_cap, window
from commands.core.errors import Refused
from storage import Store
from storage.affiliates import Affiliate
from storage.links import Link
from storage.programs import Program


async def handed_out_link(
    store: Store, affiliate: Affiliate, program: Program, campaign: str, *, now: datetime
) -> Link:
    """The affiliate's link for ``program`` and ``campaign``, made the first time.

    Raises:
        Refused: the affiliate is suspended, not an approved member, or the program is
            paused; the sentence says which and what to do.
    """
    if affiliate.status == "suspended":
        raise Refused("Your affiliate account is suspended, so no new links can be given out.")
    membership = await store.affiliates.membership(affiliate.id, program.id)
    if membership is None:
        raise Refused(f"Join {program.name} first with /join {program.slug}.")
    if membership.status != "approved":
        raise Refused(
            f"Your membership of {program.name} is {membership.status}; "
            "links come once you are approved."
        )
    if program.status != "active":
        raise Refused(f"{program.name} is paused; links are handed out again when it resumes.")
    return await store.links.ensure(affiliate.id, program.id, campaign, now=now)


async def cap_pause_note(
    store: Store, program: Program, affiliate_id: int, *, now: datetime, zone: ZoneInfo
) -> str | None:
    """Why a link works differently right now because a hard cap is full, or ``None``.

    Says which cap, what clicks meet meanwhile (the fallback page, or a "not available"
    page without one: what the redirect does), that conversions earn nothing, and when
    the cap's period ends.
    """
    cap = await reached_hard_cap(store, program.id, affiliate_id, now, zone)
    if cap is None:
        return None
    shown = describe(cap, program)
    whose = "your cap" if cap.scope == "affiliate" else "its cap"
    clicks = (
        "clicks go to the program's fallback page"
        if program.fallback_url
        else 'visitors see an "offer not available" page'
    )
    end = window(cap.period, now, zone).end
    until = (
        f"until the {cap.period} ends ({end.astimezone(zone):%a %d %b %H:%M})"
        if end is not None
        else "until a manager raises or removes the cap"
    )
    return (
        f"{program.name} has reached {whose} ({shown}), so it is paused for you: {clicks} "
        f"and conversions earn nothing {until}. The link stays the same and counts again "
        "after that."
    )
