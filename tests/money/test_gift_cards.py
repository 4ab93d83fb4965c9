"""Gift cards: a sale's lot, its expiry and the limits on what a card may hold.

docs/programs.md "Gift cards" and docs/protocol.md §4 (`210060` sells, `006000` spends, `310000`
asks) and §10 (the largest top-up). The example coalition's gift cards (BIN 639000) expire 12
calendar months after the sale and hold at most 50,000,000 IRR. The lot is read from the
journal's `lots` table.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from iso8583 import Message
from switch.core import DEFAULT_LIMITS
from switch.core.gift_card import add_months
from tests.money.support import Shell, rc, rrn, tehran
from tests.rewards.support import gift_card
from tests.switch.support import NOW, T1, T2, T3, inquiry, request

G = gift_card(701)


def sell(sh: Shell, amount: int, tid: str = T1, pan: str = G, now: dt.datetime = NOW,
         **kw: Any) -> Message:
    return sh.send(request("0200", tid, sh.next_stan(), pan=pan, pc="210060", amount=amount,
                           now=now, **kw), now)


def purse_lots(sh: Shell, pan: str = G) -> list[tuple[object, ...]]:
    """(store, coalition, earned_on, expires_on, initial, remaining, journal row) of its value."""
    return sh.sql("SELECT store_id, coalition_id, earned_on, expires_on, initial, remaining, "
                  "journal_id FROM lots WHERE pan = ? AND kind = 'sv' ORDER BY id",
                  (pan,))


def test_a_sale_is_a_lot_of_the_selling_store_for_twelve_calendar_months(sh: Shell) -> None:
    resp = sell(sh, 250_000, tid=T2)
    assert rc(resp) == "00"
    assert purse_lots(sh) == [("STORE0000000002", "tehran-mall", "2026-11-23", "2027-11-23",
                               250_000, 250_000, int(rrn(resp)))]
    second = sell(sh, 1_000, tid=T3, now=tehran(2026, 12, 31))
    assert rc(second) == "00"
    assert purse_lots(sh)[1] == ("STORE0000000003", "tehran-mall", "2026-12-31", "2027-12-31",
                                 1_000, 1_000, int(rrn(second)))


@pytest.mark.parametrize("amount, code", [(0, "13"), (None, "30")])
def test_a_sale_of_nothing_is_declined_and_makes_no_lot(sh: Shell, amount: int | None,
                                                        code: str) -> None:
    resp = sh.send(request("0200", T1, sh.next_stan(), pan=G, pc="210060", amount=amount))
    assert rc(resp) == code
    assert purse_lots(sh) == []


def test_the_largest_balance_is_reached_exactly_and_never_passed(sh: Shell) -> None:
    assert rc(sell(sh, 30_000_000)) == "00"
    assert rc(sell(sh, 20_000_001)) == "61"
    assert rc(sell(sh, 20_000_000)) == "00"  # 50,000,000: the largest balance itself
    assert rc(sell(sh, 1)) == "61"
    assert [lot[4] for lot in purse_lots(sh)] == [30_000_000, 20_000_000]


def test_value_past_its_expiry_does_not_count_toward_the_largest_balance(sh: Shell) -> None:
    assert rc(sell(sh, 50_000_000)) == "00"
    day_before = tehran(2027, 11, 22)
    assert rc(sell(sh, 1, now=day_before)) == "61"
    on_expiry = tehran(2027, 11, 23)  # the first lot lapses on its expiry day
    assert rc(sell(sh, 50_000_000, now=on_expiry)) == "00"
    assert [lot[3] for lot in purse_lots(sh)] == ["2027-11-23", "2028-11-23"]


def test_a_sale_over_the_largest_top_up_is_declined(sh: Shell) -> None:
    sh.state.limits = sh.limits = dataclasses.replace(DEFAULT_LIMITS, max_topup=1_000_000)
    assert rc(sell(sh, 1_000_001)) == "61"
    assert rc(sell(sh, 1_000_000)) == "00"
    assert [lot[4] for lot in purse_lots(sh)] == [1_000_000]


@pytest.mark.parametrize("pc, tags", [("000000", None), ("900000", {"RP": "1"}),
                                      ("930000", None)])
def test_a_gift_card_is_a_purse_only(sh: Shell, pc: str, tags: dict[str, str] | None) -> None:
    assert rc(sell(sh, 10_000)) == "00"
    resp = sh.send(request("0200", T2, sh.next_stan(), pan=G, pc=pc, amount=5_000, tags=tags))
    assert rc(resp) == "57"
    spend = sh.send(request("0200", T2, sh.next_stan(), pan=G, pc="006000", amount=4_000))
    assert rc(spend) == "00"
    assert [lot[5] for lot in purse_lots(sh)] == [6_000]


@pytest.mark.parametrize("day, months, later", [
    (dt.date(2026, 11, 23), 12, dt.date(2027, 11, 23)),
    (dt.date(2026, 12, 15), 1, dt.date(2027, 1, 15)),
    (dt.date(2026, 1, 31), 1, dt.date(2026, 2, 28)),
    (dt.date(2027, 11, 30), 3, dt.date(2028, 2, 29)),  # 2028 is a leap year
    (dt.date(2028, 2, 29), 12, dt.date(2029, 2, 28)),
    (dt.date(2026, 3, 31), 1, dt.date(2026, 4, 30)),
    (dt.date(2026, 1, 1), 11, dt.date(2026, 12, 1)),
    (dt.date(2026, 12, 31), 0, dt.date(2026, 12, 31)),
    (dt.date(2026, 5, 31), 25, dt.date(2028, 6, 30)),
])
def test_months_are_calendar_months_and_a_missing_day_is_the_months_last(
        day: dt.date, months: int, later: dt.date) -> None:
    assert add_months(day, months) == later


@pytest.mark.parametrize("amount, code", [(0, "13"), (50_000_001, "61")])
def test_a_declined_first_sale_makes_no_card(sh: Shell, amount: int, code: str) -> None:
    """The first sale makes the card; a gift card never sold is `14` (docs/protocol.md §4)."""
    assert rc(sell(sh, amount)) == code
    assert rc(sh.send(inquiry(T2, sh.next_stan(), G))) == "14"
    assert sh.sql("SELECT pan FROM cards WHERE pan = ?", (G,)) == []
    sh.restart(NOW)
    assert rc(sh.send(inquiry(T3, sh.next_stan(), G))) == "14"
    assert rc(sell(sh, 1_000)) == "00"
    assert rc(sh.send(inquiry(T2, sh.next_stan(), G))) == "00"


def test_a_first_sale_on_an_expired_card_makes_no_card(sh: Shell) -> None:
    """DE14 before the business day's month is `54` (docs/protocol.md §5) and the first sale
    makes the card (§4): a sale declined for its expiry leaves the card never sold, `14`."""
    assert rc(sell(sh, 1_000, extra={14: "2610"})) == "54"
    assert rc(sh.send(inquiry(T2, sh.next_stan(), G))) == "14"
    assert sh.sql("SELECT pan FROM cards WHERE pan = ?", (G,)) == []
    assert purse_lots(sh) == []
    assert sh.store.check(full=True).problems == []
    sh.restart(NOW)
    assert rc(sh.send(inquiry(T3, sh.next_stan(), G))) == "14"
    assert rc(sell(sh, 1_000, extra={14: "2611"})) == "00"  # the current month is not past
    assert rc(sh.send(inquiry(T2, sh.next_stan(), G))) == "00"
