"""Every rule's dedupe key, byte for byte, through the real screening paths.

Flags already in databases deduplicate on these keys: a rule that composed its key
differently would raise (and alert) again on traffic it has flagged before. The expected
strings are written out here, not built with the code under test. (``conversion-rate``
needs a traffic baseline; its key is pinned in ``test_rules`` beside that setup.)
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.web.visitors import hash_ip, hash_network
from commands.fraud.flags import new_flag
from commands.fraud.referrals import DISCORD_EPOCH_MS, screen_join
from commands.tracking.conversions import TrackingRules, record_conversion
from commands.tracking.ip_hashes import hash_address
from commands.tracking.referrals import record_signup
from storage import Database
from storage.referrals import SIGNUP_REFERRALS
from storage.server_joins import NewJoin
from tests.commands.fraud.test_inactive_referrals import refer, service, signups_on
from tests.commands.fraud.test_rules import NOON, RULES, SALT, open_flags, visit, write
from tests.conftest import Clock
from tests.tracking_support import Seeded, seed

HOUR = int(NOON.timestamp()) // 3600 * 3600  # the click and signup window of NOON
DAY = int(NOON.timestamp()) // 86_400


def newborn_discord_id() -> str:
    """A Discord id minted an hour before NOON (a snowflake carries its birth time)."""
    born = int((NOON - timedelta(hours=1)).timestamp() * 1000) - DISCORD_EPOCH_MS
    return str(born << 22)


async def keys(database: Database) -> set[str]:
    """Every dedupe key the open flags stand for (repeats of a rule for one affiliate are
    grouped into one flag, and keep their own keys there)."""
    flags = await open_flags(database)
    async with database.read() as store:
        return {key for flag in flags for key in await store.fraud.keys_of(flag.id)}


async def test_click_flood_keys(database: Database) -> None:
    shop = await seed(database)
    await write(database, [visit(shop, "203.0.113.7", NOON) for _ in range(5)])
    other = await seed(database, slug="other")
    await write(database, [visit(other, f"198.51.100.{n}", NOON) for n in range(1, 10)])
    spiky = await seed(database, slug="spiky")
    quiet = replace(RULES, clicks_per_ip=1000, clicks_per_network=1000)
    for hour in range(1, 4):
        at = NOON - timedelta(hours=hour)
        await write(database, [visit(spiky, f"192.0.2.{hour}", at) for _ in range(2)], quiet)
    await write(database, [visit(spiky, f"10.{n}.0.1", NOON) for n in range(12)], quiet)
    assert await keys(database) == {
        f"ip-flood:{shop.link.id}:{hash_ip(SALT, '203.0.113.7')[:16]}:{HOUR}",
        f"net-flood:{other.link.id}:{hash_network(SALT, '198.51.100.1')[:16]}:{HOUR}",
        f"rate-spike:{spiky.link.id}::{HOUR}",
    }


async def test_conversion_keys(database: Database) -> None:
    shop = await seed(database)
    bob = await seed(database, slug="other", user="bob")
    program, affiliate = shop.program.id, shop.affiliate.id
    rules = TrackingRules(fraud=RULES, ip_salt=SALT)

    async def sale(fields: dict[str, str], seller: Seeded = shop, seconds: int = 0) -> None:
        await record_conversion(
            database,
            seller.program,
            {"amount": "10", **fields},
            now=NOON + timedelta(seconds=seconds),
            rules=rules,
        )

    clicked = visit(shop, "192.0.2.1", NOON)
    await write(database, [clicked])
    await sale({"click_id": clicked.click_id, "txn_id": "T-1"}, seconds=2)
    await sale({"code": shop.link.code, "txn_id": "N-1"})
    await sale({"code": shop.link.code, "txn_id": "S-1", "customer_id": "console:alice"})
    await sale({"code": bob.link.code, "txn_id": "DUP", "customer_id": "c1"}, seller=bob)
    await sale({"code": shop.link.code, "txn_id": "DUP", "customer_id": "c2"})
    async with database.transaction() as store:
        await store.sightings.record(affiliate, hash_address(SALT, "203.0.113.50"), now=NOON)
    own = {"customer_id": "c-own", "customer_ip": "203.0.113.50"}
    await sale({"code": shop.link.code, "txn_id": "I-1", **own})
    for n in range(1, 4):
        shared = {"customer_id": f"p{n}", "customer_ip": "198.51.100.23"}
        await sale({"code": shop.link.code, "txn_id": f"P-{n}", **shared})
    for n in range(1, 4):
        await sale({"code": shop.link.code, "txn_id": f"P-{n}", "status": "reversed"})
    shared_hash = hash_address(SALT, "198.51.100.23")[:16]
    # The no-click rule applies whether or not a customer_id is sent (issue 16 #6).
    no_click = {f"no-click:{bob.program.id}:DUP"} | {
        f"no-click:{program}:{txn}" for txn in ("N-1", "S-1", "DUP", "I-1", "P-1", "P-2", "P-3")
    }
    assert await keys(database) == no_click | {
        f"too-fast:{program}:T-1",
        f"self-customer:{program}:S-1",
        f"duplicate-txn:{program}:DUP",
        f"self-ip:{program}:I-1",
        f"shared-customer-ip:{program}:{affiliate}:{shared_hash}:{DAY}",
        f"reversal-burst:{affiliate}:{int(NOON.timestamp()) // 86_400}",
    }


async def test_referral_keys(database: Database) -> None:
    shop = await seed(database)
    async with database.transaction() as store:
        settings = {**shop.program.settings, SIGNUP_REFERRALS: True}
        await store.program_settings.replace_settings(shop.program.id, settings, now=NOON)
    rules = replace(RULES, referrals_per_code=4, min_account_age_days=7)
    newborn = newborn_discord_id()
    for platform, user_id in [*(("telegram", f"10{n}") for n in range(3)), ("discord", newborn)]:
        await record_signup(
            database, shop.link.code, platform=platform, user_id=user_id, now=NOON, fraud=rules
        )
    # Joins through a Discord invite: the burst and the brand-new account, keyed by invite.
    async with database.transaction() as store:
        for n in range(4):
            await store.server_joins.record_join(
                NewJoin(
                    guild_id="1",
                    member_id=f"20{n}",
                    joined_at=NOON,
                    affiliate_id=shop.affiliate.id,
                    program_id=shop.program.id,
                    invite_code="abcd",
                )
            )
        await screen_join(
            store,
            affiliate_id=shop.affiliate.id,
            program_id=shop.program.id,
            invite_code="abcd",
            member_id=newborn,
            rules=rules,
            now=NOON,
        )
    assert await keys(database) == {
        f"referral-burst:{shop.link.id}:{HOUR}",
        f"new-account:{shop.link.id}:discord:{newborn}",
        f"referral-burst:invite:abcd:{HOUR}",
        f"new-account:invite:abcd:{newborn}",
    }


async def test_inactive_referral_key(database: Database, clock: Clock) -> None:
    seeded = await signups_on(database, clock)
    for n in range(6):
        await refer(database, seeded, f"ghost{n}", clock)
    clock.advance(days=7, seconds=1)
    assert await service(database, clock).inactive_referrals() == 1
    assert await keys(database) == {f"inactive-referrals:{seeded.link.id}"}


def test_the_builder_joins_the_rule_and_its_parts_one_way() -> None:
    flag = new_flag("rate-spike", 7, "", 1763467200, program_id=1, affiliate_id=2, rule="x")
    assert flag.dedupe_key == "rate-spike:7::1763467200"
    assert (flag.rule, flag.program_id, flag.affiliate_id, flag.link_id) == (
        "rate-spike",
        1,
        2,
        None,
    )
    assert flag.evidence == {"rule": "x"}  # evidence may use any name, even "rule"
