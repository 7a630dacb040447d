"""Deep links: ``t.me/<bot>?start=<code>`` invitations and what ``/start <code>`` does.

The payload is the affiliate's link code (8 characters of ``A-Za-z0-9``, a valid deep-link
payload). ``/start`` with a code records a signup referral in programs that count them;
``/start`` alone, or with anything else, greets and shows /help.
"""

from __future__ import annotations

from dataclasses import replace

from commands.core.invocation import Services
from commands.core.reply import Button, Field, Reply
from commands.tracking.referrals import Outcome, ReferralResult, signup_link_code, valid_payload

GREETING_PAYLOAD = "welcome"  # for "start a chat with me" buttons; never a link code


def start_url(bot_username: str, payload: str = GREETING_PAYLOAD) -> str:
    """The link that opens a private chat with the bot and sends ``/start payload``."""
    if not valid_payload(payload):
        raise ValueError(f"{payload!r} cannot be a deep-link payload")
    return f"https://t.me/{bot_username}?start={payload}"


def greeting(first_name: str, result: ReferralResult | None) -> Reply:
    """The answer to /start: who the bot is, and what happened to the referral, if any."""
    intro = (
        f"Hi {first_name}! I run this community's affiliate programs: I hand out "
        "tracked referral links, count clicks and sales, and keep the leaderboard."
    )
    lines = [intro]
    if result is not None and result.program_name is not None:
        if result.outcome in {Outcome.RECORDED, Outcome.REPEATED}:
            lines.append(
                f"You came through an invitation to {result.program_name}. Have a look "
                f"with /programs, or join it yourself with /join {result.program_slug}."
            )
        elif result.outcome is Outcome.SELF_REFERRAL:
            lines.append(
                "That is your own invitation link, so it does not count as a referral. "
                "Share it with others: every new person who starts me through it counts for you."
            )
        elif result.outcome is Outcome.CLOSED:
            lines.append(f"{result.program_name} is not taking referrals right now.")
    return Reply(title="Welcome", text="\n\n".join(lines))


async def with_invite(reply: Reply, services: Services, bot_username: str) -> Reply:
    """Add the Telegram invitation to a reply that hands out a tracked link (/link) when
    the link's program counts signup referrals."""
    prefix = services.settings.link_url("")
    for button in reply.buttons:
        if not button.url.startswith(prefix):
            continue
        code = button.url.removeprefix(prefix)
        if not await signup_link_code(services.database, code):
            continue
        url = start_url(bot_username, code)
        return replace(
            reply,
            fields=(*reply.fields, Field("Telegram invite", url, inline=False)),
            buttons=(*reply.buttons, Button("Invite on Telegram", url)),
            notes=(
                *reply.notes,
                "People who start the bot through the Telegram invite count as your referrals.",
            ),
        )
    return reply
