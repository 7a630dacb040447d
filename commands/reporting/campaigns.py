"""Campaign links reported: which channel brought the clicks, sales and money.

/link's campaign label (``/link shop youtube``) exists to tell channels apart, so /stats
shows the caller's own campaigns, /report the program's (summed over affiliates, for
managers only), and ``affbot export campaigns`` every row. One reading
(``store.campaigns.totals``) feeds all three.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from commands.core.money import format_money
from commands.core.words import plural
from storage.campaigns import CampaignTotals

PLAIN = "(no campaign)"
REPORT_CAMPAIGNS = 10  # rows in /report; the export has them all


def campaign_name(campaign: str) -> str:
    """The label as shown: the campaign, or ``(no campaign)`` for the plain link."""
    return campaign or PLAIN


def own_campaign_lines(totals: Sequence[CampaignTotals]) -> list[str]:
    """``shop youtube: 12 clicks, 2 conversions, 3.00 USD earned`` per campaign of one
    affiliate; nothing when they only used plain links (the main table says it all)."""
    if all(total.campaign == "" for total in totals):
        return []
    return [
        f"{total.program_slug} {campaign_name(total.campaign)}: "
        f"{plural(total.clicks, '{n} click', '{n} clicks')}, "
        f"{plural(total.conversions, '{n} conversion', '{n} conversions')}, "
        f"{format_money(total.commission_minor, total.currency)} earned"
        for total in totals
    ]


def program_campaign_lines(totals: Sequence[CampaignTotals]) -> list[str]:
    """The campaigns of a program summed over its affiliates, most conversions first
    (then clicks), at most ``REPORT_CAMPAIGNS``; nothing when nobody used a campaign."""
    if all(total.campaign == "" for total in totals):
        return []
    summed: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    affiliates: dict[tuple[str, str, str], set[int]] = defaultdict(set)
    for total in totals:
        key = (total.program_slug, total.currency, total.campaign)
        entry = summed[key]
        entry[0] += total.clicks
        entry[1] += total.conversions
        entry[2] += total.revenue_minor
        entry[3] += total.commission_minor
        affiliates[key].add(total.affiliate_id)
    ranked = sorted(summed.items(), key=lambda item: (-item[1][1], -item[1][0], item[0]))
    lines = []
    for (slug, currency, campaign), (clicks, conversions, revenue, commission) in ranked[
        :REPORT_CAMPAIGNS
    ]:
        people = len(affiliates[(slug, currency, campaign)])
        lines.append(
            f"{slug} {campaign_name(campaign)}: {plural(clicks, '{n} click', '{n} clicks')}, "
            f"{plural(conversions, '{n} conversion', '{n} conversions')}, "
            f"{format_money(revenue, currency)} revenue, "
            f"{format_money(commission, currency)} commission "
            f"({plural(people, '{n} affiliate', '{n} affiliates')})"
        )
    if len(ranked) > REPORT_CAMPAIGNS:
        lines.append(f"… and {len(ranked) - REPORT_CAMPAIGNS} more in affbot export campaigns")
    return lines
