"""Money, counts and ranks across features, held to a reference model by random sequences.

A hypothesis state machine plays a manager and three affiliates in one program through the
real dispatcher (the commands as they type them), the real tracking server (redirects and
postbacks over HTTP) and the real signup path (``record_signup``, what the Telegram adapter
calls on ``/start CODE``), on SQLite and on PostgreSQL when ``AFFBOT_TEST_DATABASE_URL`` is
set. After every step each view (``/earnings``, ``/payouts``, both CSV exports, the ledger,
``/leaderboard`` for every viewer, ``/report`` and the weekly post) must agree with
``tests.model.reference``, so any two views that disagree fail it.

``AFFBOT_MODEL_EXAMPLES`` and ``AFFBOT_MODEL_STEPS`` set the size (CI: 100 × 40 per
engine); ``AFFBOT_MODEL_SLOW=1`` runs 600 × 80 with a random seed.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from commands.core import catalog
from commands.core.dispatcher import Dispatcher
from commands.core.invocation import Actor, ChatKind, Services, Settings
from commands.core.registry import Registry
from commands.tracking.referrals import record_signup
from tests.conftest import BASE_URL, Chat, Clock, Template, _schema_of_its_own
from tests.database_templates import SqliteTemplate
from tests.model import views
from tests.model.reference import Cap, Conversion, Expected, Member, Program
from tests.tracking_support import TrackingClient, running

SLOW = os.environ.get("AFFBOT_MODEL_SLOW") == "1"
EXAMPLES = int(os.environ.get("AFFBOT_MODEL_EXAMPLES", "600" if SLOW else "100"))
STEPS = int(os.environ.get("AFFBOT_MODEL_STEPS", "80" if SLOW else "40"))
# AFFBOT_MODEL_SHRINK=0 reports the first failing sequence as found, unshrunk (faster).
PHASES = (
    tuple(Phase)
    if os.environ.get("AFFBOT_MODEL_SHRINK", "1") == "1"
    else (Phase.explicit, Phase.reuse, Phase.generate)
)
SECRET = "model-postback-secret"
USERS = ("alice", "bob", "carol")
PEOPLE = ("9001", "9002", "9003", "9004")
START = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # a Monday morning

users = st.sampled_from(USERS)
amounts = st.integers(100, 20_000)
first_statuses = st.sampled_from(["pending", "approved", "approved", "reversed", "paid"])


def _decimal(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


class Affiliates(RuleBasedStateMachine):
    """One program run by a manager, three affiliates, their visitors and the network."""

    template: ClassVar[Template]
    directory: ClassVar[Path]
    registry: ClassVar[Registry]

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.stack = AsyncExitStack()
        self.clock = Clock(START)
        self.model = Program({user: Member(user) for user in USERS})
        self.txns = 0
        self.ids: dict[str, int] = {}
        self.last_picture: object = None
        self.run(self._start())

    def run(self, work: Any) -> Any:
        return self.runner.run(work)

    async def _start(self) -> None:
        if isinstance(self.template, SqliteTemplate):
            self.database = self.template.copy_to(self.directory / f"{secrets.token_hex(6)}.db")
            self.stack.push_async_callback(self.database.close)
        else:
            self.database = await self.stack.enter_async_context(_schema_of_its_own(self.template))
        self.services = Services(
            database=self.database,
            settings=Settings(public_base_url=BASE_URL, timezone=ZoneInfo("UTC")),
            clock=self.clock,
            registry=self.registry,
        )
        self.dispatcher = Dispatcher(self.registry, self.services)
        self.manager = Chat(self.dispatcher, Actor("console", "boss", "Boss", is_manager=True))
        self.chats = {u: Chat(self.dispatcher, Actor("console", u, u.title())) for u in USERS}
        self.client: TrackingClient = await self.stack.enter_async_context(running(self.services))
        for line in (
            "/program add shop https://shop.example/landing 10% Shop --approval",
            f"/program set shop postback-secret {SECRET}",
            "/program set shop signup_referrals on",
            "/program set shop fallback https://shop.example/sold-out",
            "/program edit shop --holding-days 30 --min-payout 2",
            "/reward_rules shop qualify-days 2",
        ):
            await self.manager(line)
        self.model.min_payout = 200

    def teardown(self) -> None:
        try:
            self.run(self.stack.aclose())
        finally:
            self.runner.close()

    # Helpers ---------------------------------------------------------------------------

    def tick(self) -> None:
        """Each step takes a minute, so no two steps share an instant."""
        self.clock.advance(minutes=1)

    async def _ensure_link(self, user: str) -> str | None:
        member = self.model.members[user]
        if member.code is None and member.active:
            reply = await self.chats[user]("/link shop")
            link = next(f.value for f in reply.fields if f.name == "Link")
            member.code = link.rsplit("/r/", 1)[1]
        return member.code

    async def _affiliate_id(self, user: str) -> int:
        async with self.database.read() as store:
            found = await store.affiliates.by_identity("console", user)
        assert found is not None
        return found.id

    async def _postback(self, **fields: str) -> tuple[int, dict[str, Any]]:
        response = await self.client.get("/postback", params={"token": SECRET, **fields})
        return response.status, await response.json()

    def _check_answer(self, expected: Expected, http: int, body: dict[str, Any]) -> None:
        assert http == expected.http, (expected, http, body)
        if expected.http != 200:
            return
        assert body.get("duplicate", False) == (expected.result == "duplicate"), (expected, body)
        if expected.status is not None:
            assert body["status"] == expected.status, (expected, body)
        if expected.commissionable is not None:
            assert body["commissionable"] == expected.commissionable, (expected, body)
            assert views.cents(body["commission"]) == expected.commission, (expected, body)
            assert body["over_cap"] == expected.over_cap, (expected, body)

    # Membership ------------------------------------------------------------------------

    @initialize(enrolled=st.lists(users, min_size=1, max_size=3, unique=True))
    def enrol(self, enrolled: list[str]) -> None:
        """Most sequences start with some approved affiliates, so money moves early."""
        for user in enrolled:
            self.join(user)
            self.approve(user)
            self.run(self._ensure_link(user))  # shared before anything else happens

    @rule(user=users)
    def join(self, user: str) -> None:
        member = self.model.members[user]
        self.run(self.chats[user]("/join shop"))
        if member.membership == "none" and not member.suspended:
            member.membership = "pending"
            self.ids[user] = self.run(self._affiliate_id(user))
        self.tick()

    @rule(user=users)
    def approve(self, user: str) -> None:
        member = self.model.members[user]
        if member.membership == "pending":
            reply = self.run(self.manager(f"/approve console:{user} shop"))
            assert reply.text.startswith(f"Approved #{self.ids[user]} "), reply
            member.membership = "approved"
        self.tick()

    @rule(user=users)
    def suspend(self, user: str) -> None:
        member = self.model.members[user]
        if member.membership != "none" and not member.suspended:
            reply = self.run(self.manager(f"/suspend console:{user}"))
            assert reply.text.startswith(f"Suspended #{self.ids[user]} "), reply
            member.suspended = True
        self.tick()

    @rule(user=users)
    def reinstate(self, user: str) -> None:
        member = self.model.members[user]
        if member.suspended:
            reply = self.run(self.manager(f"/reinstate console:{user}"))
            assert reply.text.startswith(f"Reinstated #{self.ids[user]} "), reply
            member.suspended = False
        self.tick()

    @rule(user=users, hidden=st.booleans())
    def visibility(self, user: str, hidden: bool) -> None:
        member = self.model.members[user]
        if member.membership != "none":
            value = "hidden" if hidden else "public"
            reply = self.run(self.chats[user](f"/settings visibility {value}"))
            assert reply.text == f"Your leaderboard visibility is now {value}.", reply
            member.hidden = hidden
        self.tick()

    # Traffic ---------------------------------------------------------------------------

    @rule(user=users)
    def click(self, user: str) -> None:
        code = self.run(self._ensure_link(user))
        if code is not None:
            response = self.run(self.client.get(f"/r/{code}", allow_redirects=False))
            assert response.status == 302
            query = parse_qs(urlsplit(response.headers["Location"]).query)
            if "click_id" in query:
                self.model.members[user].clicks[query["click_id"][0]] = self.clock()
        self.tick()

    @rule(user=users, cents=amounts, status=first_statuses)
    def sale(self, user: str, cents: int, status: str) -> None:
        """The network reports a sale through the affiliate's referral code."""
        self._sale(user, cents, status, by_click=False, customer=None)

    @rule(user=users, cents=amounts, status=first_statuses)
    def sale_after_a_click(self, user: str, cents: int, status: str) -> None:
        """The network reports a sale with the click id our redirect handed out."""
        self._sale(user, cents, status, by_click=True, customer=None)

    @rule(user=users, cents=amounts, status=first_statuses, customer=st.sampled_from(PEOPLE))
    def sale_to_a_customer(self, user: str, cents: int, status: str, customer: str) -> None:
        """A sale with a customer id: a referred person's purchase, or a repeat one."""
        self._sale(user, cents, status, by_click=False, customer=customer)

    def _sale(
        self, user: str, cents: int, status: str, *, by_click: bool, customer: str | None
    ) -> None:
        if customer is not None:
            referral = self.model.signups.get(customer)
            if referral is not None:  # the referred person buys through their referrer
                user = self.model.conversions[referral].user
        member = self.model.members[user]
        code = self.run(self._ensure_link(user))
        if code is None:
            self.tick()
            return
        self.txns += 1
        txn = f"T{self.txns}"
        fields = {"txn_id": txn, "amount": _decimal(cents), "status": status}
        click_at = None
        if by_click and member.clicks:
            click_id, click_at = next(reversed(member.clicks.items()))
            fields["click_id"] = click_id
        else:
            fields["code"] = code
        if customer is not None:
            fields["customer_id"] = f"telegram:{customer}"
        expected = self.model.new_sale(
            user, txn, cents, status, fields.get("customer_id"), self.clock(), click_at
        )
        http, body = self.run(self._postback(**fields))
        self._check_answer(expected, http, body)
        self.tick()

    @precondition(lambda self: any(c.kind == "sale" for c in self.model.conversions.values()))
    @rule(data=st.data(), status=st.sampled_from(["pending", "approved", "paid", "reversed"]))
    def status_changes(self, data: st.DataObject, status: str) -> None:
        """The network reports a new status of a known sale (allowed or not)."""
        self._postback_again(data.draw(self._known_sales()), status)

    @precondition(lambda self: any(c.kind == "sale" for c in self.model.conversions.values()))
    @rule(data=st.data())
    def network_retries(self, data: st.DataObject) -> None:
        """The network sends a postback of a known sale again (same txn_id and status): the
        last one, or a late retry of an earlier status."""
        txn = data.draw(self._known_sales())
        self._postback_again(txn, data.draw(st.sampled_from(self.model.conversions[txn].history)))

    def _known_sales(self) -> st.SearchStrategy[str]:
        return st.sampled_from(
            sorted(t for t, c in self.model.conversions.items() if c.kind == "sale")
        )

    def _postback_again(self, txn: str, status: str) -> None:
        conversion = self.model.conversions[txn]
        expected = self.model.change(txn, status, self.clock())
        http, body = self.run(
            self._postback(
                program="shop", txn_id=txn, amount=_decimal(conversion.amount), status=status
            )
        )
        self._check_answer(expected, http, body)
        self.tick()

    @rule(user=users, person=st.sampled_from(PEOPLE))
    def signup(self, user: str, person: str) -> None:
        """``/start CODE`` in the bot's private chat, as the Telegram adapter records it."""
        code = self.run(self._ensure_link(user))
        if code is not None:
            self.run(
                record_signup(
                    self.database, code, platform="telegram", user_id=person, now=self.clock()
                )
            )
            self.model.signup(user, person, self.clock())
        self.tick()

    # Program rules ---------------------------------------------------------------------

    @rule(rate=st.sampled_from([500, 1000, 1250, 2000]))
    def commission(self, rate: int) -> None:
        percent = f"{rate // 100}" + (f".{rate % 100:02d}".rstrip("0") if rate % 100 else "")
        reply = self.run(self.manager(f"/commission shop {percent}%"))
        if rate == self.model.rate_bp:
            assert reply.text == f"shop already pays {percent}% of the sale then.", reply
        else:
            assert reply.title == "Commission for shop changed", reply
        self.model.rate_bp = rate
        self.tick()

    @rule(
        name=st.sampled_from(["Silver", "Gold"]),
        threshold=st.integers(1, 4),
        bonus=st.integers(1, 5),
    )
    def tier(self, name: str, threshold: int, bonus: int) -> None:
        reply = self.run(self.manager(f"/tier set shop {name} {threshold} 0 {bonus}%"))
        assert reply.text == f"Tier {name} of shop saved.", reply
        self.model.tiers[name] = (threshold, bonus * 100)
        self.tick()

    @rule(
        per_affiliate=st.booleans(),
        metric=st.sampled_from(["conversions", "commission"]),
        limit=st.integers(1, 4),
        period=st.sampled_from(["day", "all"]),
    )
    def cap(self, per_affiliate: bool, metric: str, limit: int, period: str) -> None:
        amount = f"{limit}" if metric == "conversions" else f"{limit * 2}.00"
        scope = " --per-affiliate" if per_affiliate else ""
        reply = self.run(self.manager(f"/cap set shop {amount} {period} {metric} fallback{scope}"))
        assert reply.title == "Cap set for Shop", reply
        value = limit if metric == "conversions" else limit * 200
        key = "affiliate" if per_affiliate else "program"
        self.model.caps[key] = Cap(value, metric, period)  # type: ignore[arg-type]
        self.tick()

    @precondition(lambda self: bool(self.model.caps))
    @rule(per_affiliate=st.booleans())
    def cap_off(self, per_affiliate: bool) -> None:
        key = "affiliate" if per_affiliate else "program"
        if key in self.model.caps:
            scope = " --per-affiliate" if per_affiliate else ""
            reply = self.run(self.manager(f"/cap off shop{scope}"))
            assert reply.title == "Cap removed from Shop", reply
            del self.model.caps[key]
        self.tick()

    @rule(days=st.sampled_from([0, 1, 3, 30]))
    def holding(self, days: int) -> None:
        self.run(self.manager(f"/program edit shop --holding-days {days}"))
        self.model.holding_days = days
        self.tick()

    @rule(user=users, amount=st.integers(1, 9))
    def bonus(self, user: str, amount: int) -> None:
        member = self.model.members[user]
        if member.membership != "none":
            reply = self.run(self.manager(f"/reward console:{user} {amount} USD good week"))
            if member.suspended:  # no new money while suspended, bonuses included
                assert "is suspended" in reply.text, reply
            else:
                assert reply.text.startswith("Granted #"), reply
                member.bonuses.append([amount * 100, 0])
        self.tick()

    @rule(hours=st.sampled_from([1, 12, 24, 49, 24 * 4]))
    def time_passes(self, hours: int) -> None:
        self.clock.advance(hours=hours)

    @rule(user=users)
    def payout(self, user: str) -> None:
        member = self.model.members[user]
        if member.membership != "none":
            owed = self.model.owed(user, self.clock())
            amount = _decimal(owed)
            reply = self.run(self.manager(f"/payout mark console:{user} {amount} USD"))
            if member.suspended:
                assert "is suspended" in reply.text, reply
            elif owed:
                assert reply.text.startswith(f"Marked {amount} USD as paid"), (owed, reply)
                self.model.pay(user, self.clock())
            else:
                assert "has no payable balance" in reply.text, reply
        self.tick()

    # Invariants ------------------------------------------------------------------------

    def _known(self) -> list[str]:
        return [u for u in USERS if self.model.members[u].membership != "none"]

    @invariant()
    def earnings_agree_with_the_ledger_and_the_model(self) -> None:
        self.run(self._earnings())

    async def _earnings(self) -> None:
        now = self.clock()
        ledger = await views.ledger(self.database)
        for user in self._known():
            shop, bonus = views.earnings(await self.chats[user]("/earnings"))
            expected = self.model.earnings(user, now)
            assert shop == expected, f"/earnings of {user}: {shop}, model {expected}"
            if self.model.members[user].bonuses:
                want = self.model.bonus_row(user)
                assert bonus == want, f"/earnings bonus of {user}: {bonus}, model {want}"
            if shop is None:
                continue
            from_ledger = dict.fromkeys(views.STATUSES, 0)
            for txn, (_, status, commission) in ledger.items():
                conversion = self.model.conversions[txn]
                if conversion.user == user:
                    from_ledger[self._column(conversion, status, now)] += commission
            assert from_ledger == shop, f"ledger of {user}: {from_ledger}, /earnings {shop}"
        for txn, (affiliate_id, status, _) in ledger.items():
            conversion = self.model.conversions[txn]
            assert affiliate_id == self.ids[conversion.user], (txn, affiliate_id)
            assert status == conversion.status, f"ledger: {txn} is {status}, model {conversion}"

    def _column(self, conversion: Conversion, status: str, now: datetime) -> str:
        return self.model.column(conversion, status, now)

    @invariant()
    def payouts_and_exports_agree_to_the_cent(self) -> None:
        self.run(self._payouts())

    async def _payouts(self) -> None:
        now = self.clock()
        expected = {
            self.ids[user]: owed
            for user in self._known()
            if user in self.ids and (owed := self.model.owed(user, now))
        }
        listed = views.payouts(await self.manager("/payouts"))
        assert listed == expected, f"/payouts {listed}, model {expected}"
        exported = await views.payout_csv(self.database, now)
        assert exported == listed, f"payout CSV {exported}, /payouts {listed}"
        rows = await views.conversions_csv(self.database, now)
        assert set(rows) == set(self.model.conversions), "conversions CSV rows"
        for txn, conversion in self.model.conversions.items():
            want = (
                str(self.ids[conversion.user]),
                str(conversion.earned),
                conversion.status,
                "yes" if conversion.over_cap else "no",
            )
            assert rows[txn] == want, f"conversions CSV {txn}: {rows[txn]}, model {want}"

    @invariant()
    def every_viewer_sees_the_same_ranks(self) -> None:
        self.run(self._ranks())

    async def _ranks(self) -> None:
        now = self.clock()
        ranks = self.model.ranks(now)
        expected = sorted(
            ("(hidden)" if self.model.members[user].hidden else user.title(), rank, value)
            for user, (rank, value) in ranks.items()
        )
        seen: dict[str, list[views.Row]] = {}
        for user in self._known():
            board, own = await self.dispatcher.execute_line(
                "/leaderboard week", self.chats[user].actor, ChatKind.GROUP
            )
            seen[f"{user} ({'hidden' if self.model.members[user].hidden else 'visible'})"] = (
                views.board(board)
            )
            assert views.own_position(own) == ranks.get(user), f"{user}'s own position: {own.text}"
        (manager_board,) = await self.dispatcher.execute_line(
            "/leaderboard week", self.manager.actor, ChatKind.GROUP
        )
        seen["manager"] = views.board(manager_board)
        for viewer, shown in seen.items():
            assert shown == expected, f"{viewer} sees {shown}, model {expected}"
        # The weekly post and /report cost the most to compose: they are read again only
        # when the standings the model predicts (or who is hidden) changed.
        picture = (
            tuple(sorted(ranks.items())),
            tuple(u for u in USERS if self.model.members[u].hidden),
        )
        if picture == self.last_picture:
            return
        self.last_picture = picture
        seen = {"weekly post": await views.weekly_post(self.database, now)}
        for viewer, shown in seen.items():
            assert shown == expected, f"{viewer} sees {shown}, model {expected}"
        # /report names hidden affiliates to managers, at the same ranks.
        users_by_id = {affiliate_id: user for user, affiliate_id in self.ids.items()}
        report = views.report_leaders(await self.manager("/report week"))
        named = {users_by_id[i]: place for i, place in report.items()}
        assert named == ranks, f"/report ranks {named}, model {ranks}"


def test_money_counts_and_ranks_follow_the_model(
    database_template: Template, tmp_path: Path
) -> None:
    Affiliates.template = database_template
    Affiliates.directory = tmp_path
    Affiliates.registry = catalog.load()
    run_state_machine_as_test(
        Affiliates,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=not SLOW,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            print_blob=False,
            phases=PHASES,
        ),
    )
