"""The reference model: what an affiliate program's money, counts and ranks should be.

Plain Python over integer minor units (USD cents), written from issue 16, the help texts and
``docs/DECISIONS.md``, never from the code it checks. One program (``shop``, a percent
commission), a few affiliates, and the rules a real affiliate manager expects:

* **Commission** of a sale is the rate in force when it happened plus the bonus of the
  affiliate's tier at that moment, rounded half-even to the cent. A tier is the highest one
  whose threshold the affiliate's approved (or paid) sales within the caps meet.
* **Nothing after suspension**: a sale that happens while the affiliate is suspended earns
  nothing (it is recorded, commission 0, ``commissionable`` false). Commission earned, or
  pending, from before the suspension keeps its value, but while the suspension lasts its
  approved part and unpaid bonuses are withheld: not payable, not listed by ``/payouts``,
  refused by ``/payout mark``; reinstatement releases them.
* **A customer's first purchase** is their first sale, never their signup referral. Later
  sales of the same customer earn nothing (the program pays no recurring commission).
* **Caps** (``fallback`` ones are hard): a sale that would take a cap's use past its limit
  is recorded but earns nothing. Use is counted over the cap's period from sales that earn
  commission: reversed, over-cap, non-commissionable sales and signup referrals never use a
  cap.
* **Signup referrals** are pending and worth 0 until they qualify (the referred account's
  approved sale, or its return after ``qualify_days``); an unqualified signup is not a
  conversion anywhere: not on a leaderboard, not in a cap. A qualified one is.
* **Statuses** move pending → approved → paid, pending → reversed, approved/paid →
  reversed; a repeat of a status a transaction already had changes nothing and is answered
  200 with ``duplicate``; after a reversal, every answer says ``reversed``.
* **Earnings**: pending, held (approved, younger than the holding days), payable (approved,
  older), paid, reversed: each the earned commission (0 for over-cap sales) of conversions in
  that status. A payout is due when payable reaches the minimum payout, plus unpaid manager
  bonuses (payable at once); ``/payout mark`` settles exactly those.
* **Ranks** (by conversions, this week): standard competition ranks over every active
  affiliate, counting every recorded conversion that is not reversed, not reported while the
  affiliate was suspended and not an unqualified signup (a signup does not qualify while
  its referrer is suspended). Hidden affiliates keep their place
  without their name (``(hidden)`` on every public board, named only to managers in
  ``/report``), so every viewer sees the same ranks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

Status = Literal["pending", "approved", "paid", "reversed"]
TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"approved", "reversed"}),
    "approved": frozenset({"paid", "reversed"}),
    "paid": frozenset({"reversed"}),
    "reversed": frozenset(),
}
EARNINGS_COLUMNS = ("pending", "held", "payable", "paid", "reversed", "withheld")
ATTRIBUTION_DAYS = 30
QUALIFY_DAYS = 2


@dataclass
class Member:
    """One affiliate as the model knows them."""

    user: str
    membership: Literal["none", "pending", "approved"] = "none"
    suspended: bool = False
    hidden: bool = False
    code: str | None = None
    clicks: dict[str, datetime] = field(default_factory=dict)
    bonuses: list[list[int]] = field(default_factory=list)  # [amount, paid 0/1]

    @property
    def active(self) -> bool:
        return self.membership == "approved" and not self.suspended


@dataclass
class Conversion:
    txn: str
    user: str
    kind: Literal["sale", "signup"]
    amount: int
    commission: int
    commissionable: bool
    over_cap: bool
    status: str
    occurred_at: datetime
    customer: str | None
    history: list[str]
    # Reported while its affiliate was suspended: recorded, worth nothing, never counted.
    while_suspended: bool = False

    @property
    def earned(self) -> int:
        return 0 if self.over_cap else self.commission

    @property
    def countable(self) -> bool:
        """Whether it counts as a conversion (ranks): not reversed, not reported while its
        affiliate was suspended, not an unqualified signup."""
        if self.status == "reversed" or self.while_suspended:
            return False
        return not (self.kind == "signup" and self.status == "pending")


@dataclass(frozen=True)
class Cap:
    limit: int  # conversions, or cents of commission
    metric: Literal["conversions", "commission"]
    period: Literal["day", "all"]


@dataclass(frozen=True)
class Expected:
    """What the model predicts for a postback."""

    http: int
    result: Literal["inserted", "updated", "duplicate", "refused"]
    status: str | None = None
    commissionable: bool | None = None
    commission: int | None = None
    over_cap: bool | None = None


def percent_of(amount: int, basis_points: int) -> int:
    exact = Decimal(amount) * Decimal(basis_points) / Decimal(10_000)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def week_start(now: datetime) -> datetime:
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


@dataclass
class Program:
    """The whole state the model keeps."""

    members: dict[str, Member]
    rate_bp: int = 1000
    tiers: dict[str, tuple[int, int]] = field(default_factory=dict)  # name: threshold, bonus
    caps: dict[str, Cap] = field(default_factory=dict)  # "program" / "affiliate"
    holding_days: int = 30
    min_payout: int = 0
    conversions: dict[str, Conversion] = field(default_factory=dict)
    signups: dict[str, str] = field(default_factory=dict)  # person: txn

    # Sales -----------------------------------------------------------------------------

    def tier_bonus(self, user: str) -> int:
        count = sum(
            1
            for c in self.conversions.values()
            if c.user == user
            and c.kind == "sale"
            and c.status in {"approved", "paid"}
            and not c.over_cap
        )
        reached = [(t, b) for t, b in self.tiers.values() if count >= t]
        return max(reached)[1] if reached else 0

    def cap_use(self, cap: Cap, scope: str, user: str, at: datetime) -> int:
        used = 0
        for c in self.conversions.values():
            if c.kind != "sale" or not c.commissionable or c.over_cap:
                continue
            if c.status == "reversed" or (scope == "affiliate" and c.user != user):
                continue
            if cap.period == "day" and c.occurred_at.date() != at.date():
                continue
            used += 1 if cap.metric == "conversions" else c.commission
        return used

    def over_cap(self, user: str, commission: int, at: datetime) -> bool:
        for scope, cap in self.caps.items():
            added = 1 if cap.metric == "conversions" else commission
            if self.cap_use(cap, scope, user, at) + added > cap.limit:
                return True
        return False

    def first_sale_of(self, customer: str) -> Conversion | None:
        sales = [
            c for c in self.conversions.values() if c.customer == customer and c.kind == "sale"
        ]
        return min(sales, key=lambda c: c.occurred_at) if sales else None

    def new_sale(
        self,
        user: str,
        txn: str,
        amount: int,
        status: str,
        customer: str | None,
        now: datetime,
        click_at: datetime | None = None,
    ) -> Expected:
        """Predict (and apply) a first postback for ``txn`` attributed to ``user``."""
        if txn in self.conversions:
            return self.change(txn, status, now)
        if status == "paid":
            return Expected(409, "refused")
        if click_at is not None and now - click_at > timedelta(days=ATTRIBUTION_DAYS):
            return Expected(422, "refused")
        earlier = self.first_sale_of(customer) if customer else None
        if earlier is not None:
            user = earlier.user
        commissionable = earlier is None and not self.members[user].suspended
        commission = 0
        if commissionable:
            commission = percent_of(amount, self.rate_bp + self.tier_bonus(user))
        over = commissionable and self.over_cap(user, commission, now)
        conversion = Conversion(
            txn, user, "sale", amount, commission, commissionable, over, status, now,
            customer, [status], self.members[user].suspended,
        )  # fmt: skip
        self.conversions[txn] = conversion
        if status == "approved":
            self._qualify_by_sale(conversion, now)
        earns = commissionable and commission > 0 and not over
        return Expected(200, "inserted", status, earns, commission, over)

    def change(self, txn: str, status: str, now: datetime) -> Expected:
        conversion = self.conversions[txn]
        if status in conversion.history:
            return Expected(
                200, "duplicate", "reversed" if conversion.status == "reversed" else None
            )
        if status not in TRANSITIONS[conversion.status]:
            return Expected(409, "refused")
        conversion.status = status
        conversion.history.append(status)
        if status == "approved":
            self._qualify_by_sale(conversion, now)
        return Expected(200, "updated", status)

    # Signups ---------------------------------------------------------------------------

    def signup(self, user: str, person: str, now: datetime) -> None:
        """``/start CODE`` by ``person`` through ``user``'s link."""
        if not self.members[user].active:
            return
        txn = self.signups.get(person)
        if txn is None:
            self.signups[person] = txn = f"signup:telegram:{person}"
            self.conversions[txn] = Conversion(
                txn, user, "signup", 0, 0, False, False, "pending", now, f"telegram:{person}",
                ["pending"],
            )  # fmt: skip
            return
        signup = self.conversions[txn]
        if now >= signup.occurred_at + timedelta(days=QUALIFY_DAYS):
            self._qualify(signup)

    def _qualify_by_sale(self, sale: Conversion, now: datetime) -> None:
        if sale.customer is None or not sale.customer.startswith("telegram:"):
            return
        txn = f"signup:{sale.customer}"
        if txn in self.conversions:
            self._qualify(self.conversions[txn])

    def _qualify(self, signup: Conversion) -> None:
        """A signup qualifies unless its referrer is suspended (then it stays pending and
        may qualify after reinstatement)."""
        if self.members[signup.user].suspended:
            return
        if signup.status == "pending":
            signup.status = "approved"
            signup.history.append("approved")

    # Views -----------------------------------------------------------------------------

    def earnings(self, user: str, now: datetime) -> dict[str, int] | None:
        """pending/held/payable/paid/reversed of ``user`` (``None``: no conversion yet)."""
        mine = [c for c in self.conversions.values() if c.user == user]
        if not mine:
            return None
        totals = dict.fromkeys(EARNINGS_COLUMNS, 0)
        for c in mine:
            totals[self.column(c, c.status, now)] += c.earned
        return totals

    def column(self, conversion: Conversion, status: str, now: datetime) -> str:
        """The /earnings column of ``conversion`` in ``status``: approved money is held,
        payable, or withheld while its affiliate is suspended."""
        if status != "approved":
            return status
        if self.members[conversion.user].suspended:
            return "withheld"
        released = conversion.occurred_at <= now - timedelta(days=self.holding_days)
        return "payable" if released else "held"

    def bonus_row(self, user: str) -> dict[str, int]:
        """The bonus row of /earnings: unpaid bonuses are payable, or withheld."""
        bonuses = self.members[user].bonuses
        unpaid = sum(amount for amount, paid in bonuses if not paid)
        row = dict.fromkeys(EARNINGS_COLUMNS, 0)
        row["withheld" if self.members[user].suspended else "payable"] = unpaid
        row["paid"] = sum(amount for amount, paid in bonuses if paid)
        return row

    def payable_conversions(self, user: str, now: datetime) -> list[Conversion]:
        cutoff = now - timedelta(days=self.holding_days)
        return [
            c
            for c in self.conversions.values()
            if c.user == user and c.status == "approved" and c.occurred_at <= cutoff
        ]

    def owed(self, user: str, now: datetime) -> int:
        """What ``/payouts`` should list for ``user`` (0: not listed; a suspended
        affiliate's money is withheld, so nothing is listed until reinstatement)."""
        if self.members[user].suspended:
            return 0
        payable = sum(c.earned for c in self.payable_conversions(user, now))
        due = payable if payable > 0 and payable >= self.min_payout else 0
        return due + sum(amount for amount, paid in self.members[user].bonuses if not paid)

    def pay(self, user: str, now: datetime) -> None:
        payable = sum(c.earned for c in self.payable_conversions(user, now))
        if payable > 0 and payable >= self.min_payout:
            for c in self.payable_conversions(user, now):
                c.status = "paid"  # a payout, not a postback: no "paid" in the history
        for bonus in self.members[user].bonuses:
            bonus[1] = 1

    def week_counts(self, now: datetime) -> dict[str, int]:
        start = week_start(now)
        counts: dict[str, int] = {}
        for c in self.conversions.values():
            if c.countable and start <= c.occurred_at < now:
                counts[c.user] = counts.get(c.user, 0) + 1
        return counts

    def ranks(self, now: datetime) -> dict[str, tuple[int, int]]:
        """``user: (rank, conversions)`` for every ranked (active, visible) affiliate."""
        counts = self.week_counts(now)
        ranked = {
            user: value
            for user, value in counts.items()
            if value > 0 and self.members[user].active
        }
        return {
            user: (1 + sum(1 for other in ranked.values() if other > value), value)
            for user, value in ranked.items()
        }
