"""/payouts and /payout mark: who is owed money, and recording that it was paid.

A balance is payable once approved commission is past its program's holding period and
reaches the program's minimum payout. Marking a payout moves exactly those conversions
to ``paid`` and records the reference; the amount must match, so a typo cannot settle
the wrong sum. Manager bonuses (``/reward <who> <amount>``) are payable at once, whatever
the programs' minimums, and a payout settles them with the commission in their currency.
"""

from __future__ import annotations

import re

from commands.core import notify
from commands.core.catalog import command
from commands.core.errors import Refused
from commands.core.invocation import Invocation
from commands.core.money import check_currency, format_money, is_amount_with_currency, to_minor
from commands.core.registry import Audience, Param
from commands.core.reply import Field, Reply, Table, Visibility
from commands.core.who import label, resolve, who_param
from commands.core.words import plural
from commands.reporting.payouts import OWED_HEADERS, owed_now, owed_rows, withheld_lines
from storage import Conflict
from storage.audit import AuditEntry

_AMOUNT = re.compile(r"^(\d{1,12}(?:\.\d{1,4})?)(?:\s+([A-Za-z]{3}))?$")


@command(
    "payouts",
    "Affiliates whose payable balance reaches the minimum payout",
    audience=Audience.MANAGER,
    examples=("/payouts",),
    private=True,
)
async def list_payouts(invocation: Invocation) -> Reply:
    """Lists every affiliate with commission ready to pay: approved, past the program's
    holding period, and at least the program's minimum payout, plus unpaid manager
    bonuses, which are payable at once. Suspended affiliates are left out: their money
    is withheld until they are reinstated. Record a payment with
    /payout mark <who> <amount> [reference]; affbot export payouts writes this list as
    CSV for a payment run."""
    async with invocation.database.read() as store:
        rows = await owed_rows(store, invocation.now)
        withheld = await withheld_lines(store, invocation.now)
    if not rows:
        return Reply(
            text="Nobody is due a payout right now.",
            notes=tuple(withheld),
            visibility=Visibility.PRIVATE,
        )
    return Reply(
        title="Payouts due",
        table=Table(OWED_HEADERS, tuple(rows)),
        notes=("Record a payment with /payout mark <who> <amount> [reference].", *withheld),
        visibility=Visibility.PRIVATE,
    )


def _amount(text: str) -> tuple[str, str | None]:
    match = _AMOUNT.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not an amount: write it like 120.50 or 120.50 USD")
    currency = check_currency(match.group(2)) if match.group(2) else None
    return match.group(1), currency


@command(
    "payout mark",
    "Record that you paid an affiliate their payable balance",
    params=[
        who_param(),
        Param(
            "amount",
            "The amount paid, like 120.50 USD (must equal the payable balance)",
            parse=_amount,
            absorbs=is_amount_with_currency,
            max_length=30,
        ),
        Param(
            "reference",
            "Your payment reference (bank transfer id, invoice number)",
            required=False,
            greedy=True,
            max_length=200,
        ),
    ],
    audience=Audience.MANAGER,
    examples=("/payout mark @ann 120.50 USD PAY-2026-118",),
)
async def mark_payout(
    invocation: Invocation, who: str, amount: tuple[str, str | None], reference: str | None
) -> Reply:
    """Records a payment: the affiliate's payable conversions and unpaid bonuses in that
    currency are marked paid, with your reference, and the affiliate is told privately.
    The amount must be exactly the payable balance /payouts shows, so a typo cannot
    settle the wrong sum. A suspended affiliate's money is withheld and cannot be
    marked paid until they are reinstated."""
    number, currency = amount
    now = invocation.now
    try:
        async with invocation.database.transaction() as store:
            affiliate = await resolve(store, who, platform=invocation.actor.platform)
            if affiliate.status == "suspended":
                raise Refused(
                    f"{label(affiliate)} is suspended, so their commission and bonuses are "
                    "withheld; nothing was marked. /reinstate them first to pay them, or "
                    "reverse the conversions you will not pay."
                )
            due = await owed_now(store, now, affiliate.id)
            if currency is not None:
                due = [item for item in due if item.currency == currency]
            if not due:
                raise Refused(
                    f"{label(affiliate)} has no payable balance"
                    + (f" in {currency}." if currency else ".")
                )
            if len(due) > 1:
                options = ", ".join(format_money(i.amount_minor, i.currency) for i in due)
                raise Refused(
                    f"{label(affiliate)} is owed in several currencies ({options}); "
                    "add the currency."
                )
            item = due[0]
            try:
                paid = to_minor(number, item.currency)
            except ValueError as error:
                raise Refused(f"{error}.") from None
            if paid != item.amount_minor:
                raise Refused(
                    f"{label(affiliate)}'s payable balance is "
                    f"{format_money(item.amount_minor, item.currency)}, not "
                    f"{format_money(paid, item.currency)}; mark exactly the payable balance."
                )
            conversions = await store.payouts.payable_conversions(
                affiliate.id, item.program_ids, now=now
            )
            payout = await store.payouts.record(
                affiliate.id,
                paid,
                item.currency,
                [c.id for c in conversions],
                reference=reference,
                actor=invocation.actor.label,
                now=now,
                bonus_ids=item.bonus_ids,
            )
            await store.audit.record(
                AuditEntry(
                    actor=invocation.actor.label,
                    action="payout.mark",
                    subject=f"affiliate:{affiliate.id}",
                    before={"payable_minor": item.amount_minor, "currency": item.currency},
                    after={
                        "payout_id": payout.id,
                        "paid_minor": paid,
                        "reference": reference,
                        "conversions": len(conversions),
                        "bonuses": len(item.bonus_ids),
                    },
                    occurred_at=now,
                )
            )
            note = Reply(
                title="Payout sent",
                text=f"You were paid {format_money(paid, item.currency)} for "
                f"{', '.join(item.sources)}. Thank you!",
                fields=(Field("Reference", reference),) if reference else (),
            )
            await store.outbox.enqueue(
                await notify.to_affiliate(store, affiliate.id, note, f"payout:{payout.id}"),
                now=now,
            )
    except Conflict:
        raise Refused(
            "The balance changed while recording the payout; nothing was marked. "
            "Check /payouts and try again."
        ) from None
    return Reply(
        text=f"Marked {format_money(paid, item.currency)} as paid to {label(affiliate)} "
        f"({plural(len(conversions), '{n} conversion', '{n} conversions')}"
        + (
            f", {plural(len(item.bonus_ids), '{n} bonus', '{n} bonuses')}"
            if item.bonus_ids
            else ""
        )
        + "). They are told privately."
    )
