"""/rewards: tiers, points and badges, once a manager sets up reward rules.

The rules themselves arrive with the rewards feature; until then this command says
plainly that there are none, instead of inventing numbers.
"""

from __future__ import annotations

from commands.catalog import command
from commands.invocation import Invocation
from commands.registry import Audience
from commands.reply import Field, Reply, Visibility


@command(
    "rewards",
    "Your tier, points, badges and next milestone",
    audience=Audience.AFFILIATE,
    examples=("/rewards",),
    private=True,
)
async def rewards(invocation: Invocation) -> Reply:
    """Shows your reward tier, points, badges and the next milestone, when the program
    runs a rewards scheme. Only you can see it."""
    affiliate = invocation.require_affiliate()
    async with invocation.database.read() as store:
        totals = await store.performance.affiliate_totals(affiliate.id, None, invocation.now)
    conversions = sum(total.conversions for total in totals)
    return Reply(
        title="Your rewards",
        text=(
            "No reward rules are set up yet, so there are no tiers, points or badges to "
            "earn. Your commission is unaffected: see /earnings."
        ),
        fields=(Field("Conversions so far", str(conversions)),),
        visibility=Visibility.PRIVATE,
    )
