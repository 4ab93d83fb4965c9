"""Coupons and gift cards in a day's settlement (docs/settlement.md "Coupons and gift cards"):
who pays each discount, gift-card value netted between seller and spender, lapsed value to the
seller or the operator; every side sums to zero and the money side is the sum of its parts."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from settlement import render
from settlement.day import DayBook, DaySettlement, Side, stores_from_config
from settlement.journal import Journal, settle_journal
from switch.config import Config
from switch.core.catalog import TO_OPERATOR
from tests.rewards.support import BOOKS, CAFE, SPORTS, gift_card, issue, redeem_coupon, terms
from tests.switch.journaled import Journaled
from tests.switch.support import NOW, T1, T2, T3, card, example_config, request, reversal, sign_on

DAY = NOW.date()
OP = "operator:tehran-mall"


def settle(sw: Journaled, cfg: Config, day: dt.date = DAY) -> DaySettlement:
    with Journal(cfg.switch.database) as j:
        result: DaySettlement = settle_journal(j, DayBook(day, stores_from_config(cfg)),
                                               workers=1, coalitions=cfg.coalitions)
    return result


def pairs(side: Side | None) -> dict[tuple[str, str], int]:
    assert side is not None
    return {(o.payer, o.payee): o.amount for o in side.obligations}


def zero_sum(d: DaySettlement) -> None:
    for side in (d.coupons, d.gift_breakage, d.stored_value, d.money):
        assert side is not None
        assert sum(p.net_amount for p in side.positions) == 0


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return example_config(tmp_path / "lps.db")


@pytest.fixture
def sw(cfg: Config, tmp_path: Path) -> Iterator[Journaled]:
    j = Journaled(tmp_path, cfg)
    for tid in (T1, T2, T3):
        assert j.rc(sign_on(tid)) == "00"
    yield j
    j.close()


def test_each_discount_is_owed_by_its_issuer_to_the_store_that_took_it(
        sw: Journaled, cfg: Config) -> None:
    [coalition] = issue(sw.store, terms(amount=30_000))
    cafe = issue(sw.store, terms(amount=20_000, issuer=CAFE), 3)
    assert sw.rc(redeem_coupon(T2, 1, card(1), coalition, 100_000)) == "00"
    assert sw.rc(redeem_coupon(T2, 2, card(2), cafe[0], 100_000)) == "00"
    assert sw.rc(redeem_coupon(T1, 3, card(3), cafe[1], 100_000)) == "00"  # its own: nothing
    reversed_ = redeem_coupon(T3, 4, card(4), cafe[2], 100_000)
    assert sw.rc(reversed_) == "00"
    assert sw.rc(reversal(reversed_, 5)) == "00"
    d = settle(sw, cfg)
    assert pairs(d.coupons) == {(OP, BOOKS): 30_000, (CAFE, BOOKS): 20_000}
    net = {p.store_id: p.net_amount for p in d.money.positions} if d.money else {}
    assert net[BOOKS] == 50_000 and net[OP] < 0
    zero_sum(d)
    files = render.render(d)
    lines = files[render.REWARDS].decode().splitlines()
    assert lines[0] == "kind,coalition,payer,payee,amount,currency"
    assert "coupon,tehran-mall,operator:tehran-mall,STORE0000000002,30000,364" in lines
    header, cafe_row = files[render.NET_POSITIONS].decode().splitlines()[:2]
    assert header.split(",")[6] == "rewards_amount" and cafe_row.split(",")[6] == "-20000"


def test_a_gift_card_sold_at_one_store_and_spent_at_another_is_netted_like_stored_value(
        sw: Journaled, cfg: Config) -> None:
    g = gift_card(1)
    assert sw.rc(request("0200", T1, 1, pan=g, pc="210060", amount=400_000)) == "00"
    assert sw.rc(request("0200", T2, 2, pan=g, pc="006000", amount=150_000)) == "00"
    assert sw.rc(request("0200", T3, 3, pan=g, pc="006000", amount=50_000)) == "00"
    assert sw.rc(request("0200", T1, 4, pan=g, pc="006000", amount=10_000)) == "00"
    d = settle(sw, cfg)
    assert pairs(d.stored_value) == {(CAFE, BOOKS): 150_000, (CAFE, SPORTS): 50_000}
    zero_sum(d)


@pytest.mark.parametrize("kept_by", ["seller", "operator"])
def test_lapsed_gift_card_value_is_breakage_on_its_expiry_day(
        tmp_path: Path, kept_by: str) -> None:
    base = example_config(tmp_path / "lps.db")
    co = base.coalitions["tehran-mall"]
    assert co.gift_cards is not None
    gift = dataclasses.replace(co.gift_cards, breakage=kept_by)
    cfg = dataclasses.replace(base, coalitions={co.id: dataclasses.replace(co, gift_cards=gift)})
    sw = Journaled(tmp_path, cfg)
    try:
        assert sw.rc(sign_on(T1)) == "00" and sw.rc(sign_on(T2)) == "00"
        g = gift_card(2)
        assert sw.rc(request("0200", T1, 1, pan=g, pc="210060", amount=400_000)) == "00"
        assert sw.rc(request("0200", T2, 2, pan=g, pc="006000", amount=150_000)) == "00"
        expiry = dt.date(2027, 11, 23)
        assert settle(sw, cfg, expiry - dt.timedelta(days=1)).gift_lapses == []
        d = settle(sw, cfg, expiry)
        [lapse] = d.gift_lapses
        assert (lapse.store_id, lapse.lots, lapse.amount, lapse.kept_by) == \
            (CAFE, 1, 250_000, kept_by)
        expected = {(CAFE, OP): 250_000} if kept_by == TO_OPERATOR else {}
        assert pairs(d.gift_breakage) == expected
        zero_sum(d)
        assert render.GIFT_BREAKAGE in render.render(d)
        assert settle(sw, cfg, expiry + dt.timedelta(days=1)).gift_lapses == []
    finally:
        sw.close()
