"""What is owed: payable commission and bonuses per affiliate and currency, as of now.

``/payouts`` lists it and ``affbot export payouts`` writes it, from the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from commands.core.money import format_money
from storage import Store
from storage.payouts import Balance, BonusTotals


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


async def withheld_lines(store: Store, now: datetime) -> list[str]:
    """What suspended affiliates would be owed, per affiliate and currency: left out of the
    payment run until they are reinstated (or their conversions reversed)."""
    totals: dict[tuple[int, str], int] = {}
    for balance in await store.payouts.balances(now=now):
        if balance.withheld_minor:
            key = (balance.affiliate_id, balance.currency)
            totals[key] = totals.get(key, 0) + balance.withheld_minor
    for bonus in await store.payouts.bonuses():
        if bonus.withheld_minor:
            key = (bonus.affiliate_id, bonus.currency)
            totals[key] = totals.get(key, 0) + bonus.withheld_minor
    people = await store.affiliates.get_many({who for who, _ in totals})
    return [
        f"#{who} {people[who].display_name}: {format_money(amount, currency)} withheld (suspended)"
        for (who, currency), amount in sorted(totals.items())
        if who in people
    ]
