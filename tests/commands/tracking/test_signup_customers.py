"""A signup is not a purchase: the referred person's first sale is a new customer's sale
(issue 16 #2), credited to the referrer even without a click or code."""

from __future__ import annotations

from commands.tracking.conversions import TrackingRules, record_conversion
from commands.tracking.referrals import record_signup
from storage import Database
from tests.conftest import Chat, Clock
from tests.tracking_support import Seeded, seed

RULES = TrackingRules()


async def signup_program(database: Database, clock: Clock, months: int = 0) -> Seeded:
    seeded = await seed(database, recurring_months=months)
    async with database.transaction() as store:
        await store.referrals.set_signup_referrals(seeded.program.id, True, now=clock())
    return seeded


async def test_the_first_sale_after_a_signup_earns_commission(
    database: Database, clock: Clock
) -> None:
    seeded = await signup_program(database, clock)
    await record_signup(database, seeded.link.code, platform="telegram", user_id="77", now=clock())
    clock.advance(hours=1)
    fields = {
        "code": seeded.link.code,
        "txn_id": "FIRST",
        "amount": "100",
        "customer_id": "telegram:77",
    }
    first = await record_conversion(database, seeded.program, fields, now=clock(), rules=RULES)
    assert first.body["commissionable"] is True
    assert first.body["commission"] == "10.00"
    assert "note" not in first.body
    # The second sale is the repeat (no recurring window here): the rule itself still works.
    clock.advance(days=1)
    second = await record_conversion(
        database,
        seeded.program,
        {**fields, "txn_id": "SECOND"},
        now=clock(),
        rules=RULES,
    )
    assert second.body["commissionable"] is False
    assert second.body["note"] == "repeat customer outside the recurring commission window"


async def test_a_referred_customers_sale_without_click_or_code_goes_to_the_referrer(
    database: Database, clock: Clock, manager: Chat
) -> None:
    seeded = await signup_program(database, clock, months=12)
    for user in ("78", "79"):  # 79 never buys: a signup alone is not a customer
        await record_signup(
            database, seeded.link.code, platform="telegram", user_id=user, now=clock()
        )
    clock.advance(hours=1)
    sale = await record_conversion(
        database,
        seeded.program,
        {
            "program": "shop",
            "txn_id": "S",
            "amount": "100",
            "customer_id": "telegram:78",
            "status": "approved",
        },
        now=clock(),
        rules=RULES,
    )
    assert sale.body["commissionable"] is True
    async with database.read() as store:
        stored = await store.conversions.by_txn(seeded.program.id, "S")
        signup = await store.conversions.by_txn(seeded.program.id, "signup:telegram:78")
    assert stored is not None
    assert (stored.affiliate_id, stored.link_id) == (seeded.affiliate.id, seeded.link.id)
    assert signup is not None
    assert signup.status == "approved"  # the sale qualified the referral
    # /report counts the customer as new: their first purchase is the sale, not the signup.
    clock.advance(minutes=1)
    report = await manager("/report")
    health = "\n".join(field.value for field in report.fields)
    assert "(1 of 1 new customer)" in health
