"""Data for ``affbot export``: payouts due, conversions, leaderboards and campaigns as
plain tables.

The command line writes them as CSV; keeping the rows here means a spreadsheet shows the
same numbers as /payouts and /leaderboard. Money columns are decimal amounts in the
stated currency (exact, never floats). The conversions export's commission is what the
conversion earned (0 over a hard cap or while suspended), with ``commission_note`` saying why.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from commands.core import calendar
from commands.core.money import from_minor
from commands.core.programs import program_named
from commands.core.reply import Table
from commands.reporting.leaderboard import board, public_name
from commands.reporting.payouts import owed_now
from storage import Database, Store
from storage.performance import ConversionRecord

EXPORTS = ("payouts", "conversions", "leaderboard", "campaigns")


async def export_table(
    database: Database,
    what: str,
    *,
    now: datetime,
    zone: ZoneInfo,
    period: str = "month",
    program: str | None = None,
    metric: str = "conversions",
) -> Table:
    """The rows of one export.

    Raises:
        NotFound: an unknown program.
        ValueError: an unknown export name.
    """
    async with database.read() as store:
        if what == "payouts":
            return await _payouts(store, now)
        span = calendar.period(period, now, zone)
        if what == "conversions":
            return await _conversions(store, span, program)
        if what == "campaigns":
            return await _campaigns(store, span, program)
        if what == "leaderboard":
            computed = await board(store, span, metric, program)
            rows = tuple(
                (
                    str(entry.rank),
                    str(entry.affiliate.id),
                    entry.affiliate.display_name,
                    entry.affiliate.alias or "",
                    str(from_minor(entry.value, computed.currency))
                    if computed.currency
                    else str(entry.value),
                    computed.currency or "",
                    public_name(entry.affiliate),
                )
                for entry in computed.entries
            )
            # Every affiliate, hidden ones too (ranks as /leaderboard shows them); shown_as
            # is what a public board may print, for managers who repost the file.
            return Table(
                ("rank", "affiliate_id", "name", "alias", metric, "currency", "shown_as"), rows
            )
    raise ValueError(f"unknown export {what!r}; choose one of {', '.join(EXPORTS)}")


async def _payouts(store: Store, now: datetime) -> Table:
    rows = []
    for item in await owed_now(store, now):
        affiliate = await store.affiliates.get(item.affiliate_id)
        if affiliate is None:  # pragma: no cover - balances only list existing affiliates
            continue
        identities = await store.affiliates.identities_of(affiliate.id)
        rows.append(
            (
                str(affiliate.id),
                affiliate.display_name,
                affiliate.alias or "",
                " ".join(f"{i.platform}:{i.platform_user_id}" for i in identities),
                item.currency,
                str(from_minor(item.amount_minor, item.currency)),
                " ".join(item.sources),
            )
        )
    return Table(
        ("affiliate_id", "name", "alias", "accounts", "currency", "payable", "programs"),
        tuple(rows),
    )


async def _conversions(store: Store, span: calendar.Period, program: str | None) -> Table:
    program_ids = None
    if program is not None:
        program_ids = [(await program_named(store, program)).id]
    records = await store.performance.conversion_records(span.start, span.end, program_ids)
    rows = tuple(
        (
            str(record.id),
            record.program_slug,
            "" if record.affiliate_id is None else str(record.affiliate_id),
            record.txn_id,
            record.kind,
            str(from_minor(record.amount_minor, record.currency)),
            str(from_minor(_earned(record), record.currency)),
            record.currency,
            record.status,
            "yes" if record.over_cap else "no",
            _commission_note(record),
            record.customer_id or "",
            record.occurred_at.isoformat(),
            record.campaign,
        )
        for record in records
    )
    return Table(
        (
            "id",
            "program",
            "affiliate_id",
            "txn_id",
            "kind",
            "amount",
            "commission",
            "currency",
            "status",
            "over_cap",
            "commission_note",
            "customer_id",
            "occurred_at",
            "campaign",
        ),
        rows,
    )


async def _campaigns(store: Store, span: calendar.Period, program: str | None) -> Table:
    """Per affiliate, program and campaign: the clicks and results /stats and /report sum."""
    program_ids = None
    if program is not None:
        program_ids = [(await program_named(store, program)).id]
    totals = await store.campaigns.totals(span.start, span.end, program_ids=program_ids)
    names = await store.affiliates.get_many(t.affiliate_id for t in totals)
    rows = tuple(
        (
            str(total.affiliate_id),
            names[total.affiliate_id].display_name if total.affiliate_id in names else "",
            total.program_slug,
            total.campaign,
            str(total.clicks),
            str(total.conversions),
            str(from_minor(total.revenue_minor, total.currency)),
            str(from_minor(total.commission_minor, total.currency)),
            total.currency,
        )
        for total in totals
    )
    return Table(
        (
            "affiliate_id",
            "name",
            "program",
            "campaign",
            "clicks",
            "conversions",
            "revenue",
            "commission",
            "currency",
        ),
        rows,
    )


def _earned(record: ConversionRecord) -> int:
    """What the conversion earned, as /earnings and the payout CSV count it: nothing when it
    was over a hard cap or reported while the affiliate was suspended."""
    return 0 if record.over_cap or record.while_suspended else record.commission_minor


def _commission_note(record: ConversionRecord) -> str:
    """Why the commission column says what it says, when that is not plain earned money."""
    if record.while_suspended:
        return "earns nothing: reported while the affiliate was suspended"
    if record.over_cap:
        return "earns nothing: over the program's hard cap"
    if record.affiliate_suspended and record.status in ("pending", "approved"):
        return "withheld while the affiliate is suspended"
    if record.status == "reversed":
        return "reversed: not paid"
    return ""
