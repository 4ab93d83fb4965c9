"""Gift cards through `handle` on a real SQLite journal (docs/programs.md "Gift cards"): sold
at any store, spent at any store, asked at the POS, nothing else, and lapsing with the
coalition's policy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iso8583 import Message
from iso8583.loyalty import parse_de54
from switch.core.gift_card import add_months
from tests.rewards.support import gift_card
from tests.switch.journaled import Journaled
from tests.switch.support import NOW, T1, T2, T3, earn, inquiry, request, reversal, sign_on


@pytest.fixture
def sw(tmp_path: Path) -> Iterator[Journaled]:
    j = Journaled(tmp_path)
    for tid in (T1, T2, T3):
        assert j.rc(sign_on(tid)) == "00"
    yield j
    j.close()


def sell(tid: str, stan: int, pan: str, amount: int, **kw: Any) -> Message:
    return request("0200", tid, stan, pan=pan, pc="210060", amount=amount, **kw)


def spend(tid: str, stan: int, pan: str, amount: int, **kw: Any) -> Message:
    return request("0200", tid, stan, pan=pan, pc="006000", amount=amount, **kw)


def balance(sw: Journaled, tid: str, stan: int, pan: str, now: dt.datetime = NOW) -> int:
    d = sw.send(inquiry(tid, stan, pan), now)
    assert d.response is not None and d.response.text(39) == "00"
    return {a.account_type: a.amount for a in parse_de54(d.response.text(54))}["60"]


def test_sold_at_one_store_spent_at_another_and_asked_at_a_third(sw: Journaled) -> None:
    g = gift_card(1)
    assert sw.rc(sell(T1, 1, g, 500_000)) == "00"  # the cafe sells no stored value of its own
    assert balance(sw, T3, 2, g) == 500_000
    assert sw.rc(spend(T2, 3, g, 200_000)) == "00"
    assert balance(sw, T1, 4, g) == 300_000
    assert sw.rc(spend(T3, 5, g, 300_001)) == "51"
    lot = sw.state.cards[g].purse[0]
    assert lot.store == "STORE0000000001" and lot.expires_on == dt.date(2027, 11, 23)
    sw.restart()
    assert balance(sw, T2, 6, g) == 300_000


def test_a_gift_card_earns_and_redeems_nothing_and_is_unknown_until_sold(sw: Journaled) -> None:
    g = gift_card(2)
    assert sw.rc(spend(T2, 1, g, 1_000)) == "14"
    assert sw.rc(inquiry(T2, 2, g)) == "14"
    assert g not in sw.state.cards
    assert sw.rc(sell(T2, 3, g, 10_000)) == "00"
    assert sw.rc(earn(T2, 4, g, 100_000)) == "57"
    assert sw.rc(request("0200", T2, 5, pan=g, pc="900000", amount=1_000, tags={"RP": "1"})) \
        == "57"
    assert balance(sw, T2, 6, g) == 10_000


def test_the_largest_balance_and_a_reversed_sale(sw: Journaled) -> None:
    g = gift_card(3)
    assert sw.rc(sell(T1, 1, g, 50_000_000)) == "00"
    assert sw.rc(sell(T1, 2, g, 1)) == "61"
    first = spend(T2, 3, g, 10_000_000)
    assert sw.rc(first) == "00"
    assert sw.rc(reversal(first, 4)) == "00"
    assert balance(sw, T3, 5, g) == 50_000_000


def test_the_value_lapses_on_its_expiry_day(sw: Journaled) -> None:
    g = gift_card(4)
    assert sw.rc(sell(T1, 1, g, 100_000)) == "00"
    day_before = dt.datetime(2027, 11, 22, 10, 0, tzinfo=dt.UTC)
    on_expiry = dt.datetime(2027, 11, 23, 10, 0, tzinfo=dt.UTC)
    assert balance(sw, T2, 2, g, day_before) == 100_000
    assert balance(sw, T2, 3, g, on_expiry) == 0
    assert sw.rc(spend(T2, 4, g, 1, now=on_expiry), on_expiry) == "51"


def test_months_are_calendar_months_and_a_missing_day_is_the_months_last() -> None:
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2026, 11, 23), 12) == dt.date(2027, 11, 23)
    assert add_months(dt.date(2026, 12, 15), 1) == dt.date(2027, 1, 15)
