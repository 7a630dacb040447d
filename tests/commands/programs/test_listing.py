"""/programs shows scheduled commission changes and reached caps (issue 16)."""

from __future__ import annotations

from datetime import timedelta

from storage import Database
from tests.conftest import Chat, Clock
from tests.core_seed import add_conversion


async def test_programs_show_scheduled_commission_changes(manager: Chat, alice: Chat) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await manager("/commission shop 15% 2027-01-01")
    await manager("/commission shop 12% 2027-01-01")  # replaces the 15% for that day
    await manager("/commission shop 20% 2027-02-01")
    listing = await alice("/programs")
    assert listing.table is not None
    assert listing.table.rows[0][2] == (
        "10% of the sale; from 2027-01-01: 12% of the sale; from 2027-02-01: 20% of the sale"
    )


async def test_programs_show_reached_caps(
    manager: Chat, alice: Chat, database: Database, clock: Clock
) -> None:
    await manager("/program add shop https://shop.example/ 10%")
    await manager("/program add app https://app.example/ 5 USD")
    await manager("/cap set shop 2 day conversions pause")
    await manager("/cap set app 2 month conversions notify")
    await manager("/cap set app 2 day conversions pause --per-affiliate")
    await alice("/join shop")
    await alice("/join app")

    def caps_column(rows: tuple[tuple[str, ...], ...]) -> dict[str, str]:
        return {row[0]: row[3] for row in rows}

    listing = await alice("/programs")
    assert listing.table is not None
    assert caps_column(listing.table.rows) == {
        "app": "2 conversions a month; 2 conversions a day per affiliate",
        "shop": "2 conversions a day",
    }
    for program in ("shop", "shop", "app", "app"):
        await add_conversion(database, "alice", program, at=clock.now - timedelta(minutes=5))
    listing = await alice("/programs")
    assert listing.table is not None
    # A program-wide cap says it is reached (a hard one until when); a personal cap is
    # each affiliate's own business (/link tells them), so it is not marked here.
    assert caps_column(listing.table.rows) == {
        "app": "2 conversions a month (reached); 2 conversions a day per affiliate",
        "shop": "2 conversions a day (reached: paused until Thu 19 Nov 00:00)",
    }
