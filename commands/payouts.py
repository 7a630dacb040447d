"""/payouts and /payout mark: who is owed money, and recording that it was paid.

A balance is payable once approved commission is past its program's holding period and
reaches the program's minimum payout. Marking a payout moves exactly those conversions
to ``paid`` and records the reference; the amount must match, so a typo cannot settle
the wrong sum. Manager bonuses (``/reward <who> <amount>``) are payable at once, whatever
the programs' minimums, and a payout settles them with the commission in their currency.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from commands import notify
from commands.catalog import command
from commands.errors import Refused
from commands.invocation import Invocation
from commands.money import check_currency, format_money, is_amount_with_currency, to_minor
from commands.registry import Audience, Param
from commands.reply import Field, Reply, Table, Visibility
from commands.who import label, resolve, who_param
from storage import Conflict, Store
from storage.audit import AuditEntry
from storage.payouts import Balance, BonusTotals

_AMOUNT = re.compile(r"^(\d{1,12}(?:\.\d{1,4})?)(?:\s+([A-Za-z]{3}))?$")


@dataclass(frozen=True, slots=True)
class Owed:
    """What one affiliate can be paid in one currency, and from which programs."""

    affiliate_id: int
    currency: str
    amount_minor: int
    program_ids: tuple[int, ...]
    program_slugs: tuple[str, ...]
    bonus_minor: int = 0
    bonus_ids: tuple[int, ...] = ()

    @property
    def sources(self) -> tuple[str, ...]:
        """The programs paid for, plus ``bonus`` when manager bonuses are included."""
        return self.program_slugs + (("bonus",) if self.bonus_ids else ())


def owed(balances: list[Balance], bonuses: Sequence[BonusTotals] = ()) -> list[Owed]:
    """Group payable balances that reach their program's minimum, and unpaid manager
    bonuses (payable at once), by affiliate and currency."""
    grouped: dict[tuple[int, str], list[Balance]] = {}
    extra: dict[tuple[int, str], BonusTotals] = {}
    for balance in balances:
        if balance.payable_minor > 0 and balance.payable_minor >= balance.min_payout_minor:
            grouped.setdefault((balance.affiliate_id, balance.currency), []).append(balance)
    for bonus in bonuses:
        if bonus.unpaid_minor > 0:
            extra[(bonus.affiliate_id, bonus.currency)] = bonus
    result = []
    for key in sorted(grouped.keys() | extra.keys()):
        items = grouped.get(key, [])
        bonus_minor = extra[key].unpaid_minor if key in extra else 0
        result.append(
            Owed(
                affiliate_id=key[0],
                currency=key[1],
                amount_minor=sum(b.payable_minor for b in items) + bonus_minor,
                program_ids=tuple(b.program_id for b in items),
                program_slugs=tuple(b.program_slug for b in items),
                bonus_minor=bonus_minor,
                bonus_ids=extra[key].unpaid_ids if key in extra else (),
            )
        )
    return result


async def owed_now(store: Store, now: datetime, affiliate_id: int | None = None) -> list[Owed]:
    """Everything payable now: released commission past the minimums and unpaid bonuses."""
    return owed(
        await store.payouts.balances(now=now, affiliate_id=affiliate_id),
        await store.payouts.bonuses(affiliate_id),
    )


async def owed_rows(store: Store, now: datetime) -> list[tuple[str, ...]]:
    """Rows for the payment run: id, name, alias, currency, amount, programs."""
    rows: list[tuple[str, ...]] = []
    for item in await owed_now(store, now):
        affiliate = await store.affiliates.get(item.affiliate_id)
        if affiliate is None:  # pragma: no cover - balances only list existing affiliates
            continue
        rows.append(
            (
                f"#{affiliate.id}",
                affiliate.display_name,
                affiliate.alias or "",
                item.currency,
                format_money(item.amount_minor, item.currency),
                ", ".join(item.sources),
            )
        )
    return rows


OWED_HEADERS = ("id", "name", "alias", "currency", "payable", "programs")


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
    bonuses, which are payable at once. Record a payment with
    /payout mark <who> <amount> [reference]; affbot export payouts writes this list as
    CSV for a payment run."""
    async with invocation.database.read() as store:
        rows = await owed_rows(store, invocation.now)
    if not rows:
        return Reply(text="Nobody is due a payout right now.", visibility=Visibility.PRIVATE)
    return Reply(
        title="Payouts due",
        table=Table(OWED_HEADERS, tuple(rows)),
        notes=("Record a payment with /payout mark <who> <amount> [reference].",),
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
    settle the wrong sum."""
    number, currency = amount
    now = invocation.now
    try:
        async with invocation.database.transaction() as store:
            affiliate = await resolve(store, who, platform=invocation.actor.platform)
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
        f"({len(conversions)} conversions"
        + (f", {len(item.bonus_ids)} bonuses" if item.bonus_ids else "")
        + "). They are told privately."
    )
