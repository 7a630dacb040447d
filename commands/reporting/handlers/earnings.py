"""/earnings: the caller's commission by program and status, and when it will be paid."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from commands.core.calendar import affiliate_zone
from commands.core.catalog import command
from commands.core.invocation import Invocation
from commands.core.money import format_money
from commands.core.registry import Audience
from commands.core.reply import Field, Reply, Table, Visibility
from storage.payouts import Balance


@command(
    "earnings",
    "Your commission by status and when the next payout is due",
    audience=Audience.AFFILIATE,
    examples=("/earnings",),
    private=True,
)
async def earnings(invocation: Invocation) -> Reply:
    """Shows your commission per program: pending (waiting for the shop to confirm the
    sale), held (approved, but inside the program's holding period for returns), payable
    (approved and ready for the next payment run), paid, and reversed (cancelled sales).
    Payable commission is paid out once it reaches the program's minimum payout. Bonuses a
    manager gave you have their own line and are payable at once. While your account is
    suspended, approved commission and bonuses are withheld (nothing is paid) and sales
    reported meanwhile earn nothing. Only you can see it."""
    affiliate = invocation.require_affiliate()
    zone = affiliate_zone(affiliate.timezone, invocation.settings.timezone)
    async with invocation.database.read() as store:
        balances = await store.payouts.balances(now=invocation.now, affiliate_id=affiliate.id)
        bonuses = await store.payouts.bonuses(affiliate.id)
        last = await store.payouts.history(affiliate.id, limit=1)
    if not balances and not bonuses:
        return Reply(
            title="Your earnings",
            text="No commission yet. Share your links (/link <program>) to start earning.",
            visibility=Visibility.PRIVATE,
        )
    # The withheld column appears only while something is withheld (a suspension).
    withholding = any(b.withheld_minor for b in balances) or any(b.withheld_minor for b in bonuses)
    rows = tuple(
        (
            balance.program_slug,
            *(
                format_money(amount, balance.currency)
                for amount in (
                    balance.pending_minor,
                    balance.held_minor,
                    balance.payable_minor,
                    balance.paid_minor,
                    balance.reversed_minor,
                    *((balance.withheld_minor,) if withholding else ()),
                )
            ),
        )
        for balance in balances
    ) + tuple(
        (
            "bonus",
            *(
                format_money(amount, bonus.currency)
                for amount in (
                    0,
                    0,
                    bonus.unpaid_minor,
                    bonus.paid_minor,
                    0,
                    *((bonus.withheld_minor,) if withholding else ()),
                )
            ),
        )
        for bonus in bonuses
    )
    next_lines = [_next_payout(b, zone) for b in balances] + [
        f"bonus: {format_money(b.unpaid_minor, b.currency)} is payable now; "
        "it goes out with the next payment run"
        if b.unpaid_minor > 0
        else f"bonus: {format_money(b.withheld_minor, b.currency)} {_WITHHELD}"
        for b in bonuses
        if b.unpaid_minor > 0 or b.withheld_minor > 0
    ]
    fields = [Field("Next payout", "\n".join(next_lines) or "nothing due", inline=False)]
    if last:
        payout = last[0]
        fields.append(
            Field(
                "Last payout",
                f"{format_money(payout.amount_minor, payout.currency)} on "
                f"{payout.created_at.astimezone(zone).date().isoformat()}",
                inline=False,
            )
        )
    return Reply(
        title="Your earnings",
        table=Table(
            ("program", "pending", "held", "payable", "paid", "reversed")
            + (("withheld",) if withholding else ()),
            rows,
        ),
        fields=tuple(fields),
        visibility=Visibility.PRIVATE,
    )


_WITHHELD = "is withheld while your account is suspended; nothing is paid until it is reinstated"


def _next_payout(balance: Balance, zone: ZoneInfo) -> str:
    slug = balance.program_slug
    minimum = format_money(balance.min_payout_minor, balance.currency)
    if balance.withheld_minor > 0:
        return f"{slug}: {format_money(balance.withheld_minor, balance.currency)} {_WITHHELD}"
    if balance.payable_minor > 0 and balance.payable_minor >= balance.min_payout_minor:
        return (
            f"{slug}: {format_money(balance.payable_minor, balance.currency)} is payable now; "
            "it goes out with the next payment run"
        )
    if balance.next_release is not None and balance.held_minor > 0:
        when = balance.next_release.astimezone(zone).date().isoformat()
        missing = f" (minimum payout {minimum})" if balance.min_payout_minor > 0 else ""
        return f"{slug}: held commission becomes payable from {when}{missing}"
    if balance.payable_minor > 0:
        return f"{slug}: payable once the balance reaches {minimum}"
    if balance.pending_minor > 0:
        return f"{slug}: waiting for pending sales to be approved"
    return f"{slug}: nothing due"
