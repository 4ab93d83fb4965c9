"""The operator's fee in the netting and the bank batch, on the hand-computed three-store day.

Every expected number below is worked out by hand from docs/settlement.md ("The coalition's
fee", "The bank transfer batch") and the scenario's rows, never by calling the fee code:

    points issued (by the lot's issuer):  S1 100 (entry 101)
    points redeemed (at the acceptor):    S1 50 (103); S2 60 + 10 - 10 + 15 = 75 (102, 105,
                                          106 reverses 105, 109); S3 50 - 25 = 25 (104, 107)
    gross payable (points and stored value obligations as payer, in rials):
                                          S1 60,000; S2 50,000; S3 55,000 + 50,000 = 105,000
    example rates: 10 rials per issued point, 20 per redeemed point, 50 basis points, and
    5,000,000 a month on the Jalali month's last day (2026-11-23 is 1405-09-02: none)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from settlement import bank, render
from settlement.day import DaySettlement, settle_rows, stores_from_config
from settlement.netting import StoreInfo
from settlement.records import ConfigurationError, Row
from settlement.terms import Schedule, operator_id
from switch.config import load_config
from tests.settlement import scenario as sc

OP = operator_id("tehran-mall")


@pytest.fixture(scope="module")
def stores() -> dict[str, StoreInfo]:
    return stores_from_config(load_config(sc.EXAMPLE))


def with_terms(stores: Mapping[str, StoreInfo], **changes: Any) -> dict[str, StoreInfo]:
    """The store table with the coalition's terms (or its fee schedule) changed: `changes`
    are fields of `Terms` or of `Schedule`, of either's types."""
    terms = next(iter(stores.values())).terms
    assert terms is not None
    schedule_changes = {k: changes.pop(k) for k in list(changes)
                        if k in {f.name for f in dataclasses.fields(Schedule)}}
    if schedule_changes:
        assert terms.schedule is not None
        changes["schedule"] = dataclasses.replace(terms.schedule, **schedule_changes)
    terms = dataclasses.replace(terms, **changes)
    return {k: dataclasses.replace(v, terms=terms) for k, v in stores.items()}


def day_of(stores: Mapping[str, StoreInfo], day: dt.date = sc.DAY,
           rows: Sequence[Row] = sc.ROWS) -> DaySettlement:
    return settle_rows(day, stores, rows, sc.LOTS if day == sc.DAY else [],
                       sc.CLOSES if day == sc.DAY else [])


def lines(d: DaySettlement) -> dict[tuple[str, str], tuple[int, int, int]]:
    return {(f.store_id, f.fee): (f.quantity, f.rate, f.amount) for f in d.fee_lines}


def test_fee_lines_of_the_day(stores: dict[str, StoreInfo]) -> None:
    d = day_of(stores)
    assert lines(d) == {
        (sc.S1, "issued_points"): (100, 10, 1_000),
        (sc.S1, "redeemed_points"): (50, 20, 1_000),
        (sc.S1, "gross_obligations"): (60_000, 50, 300),
        (sc.S2, "redeemed_points"): (75, 20, 1_500),
        (sc.S2, "gross_obligations"): (50_000, 50, 250),
        (sc.S3, "redeemed_points"): (25, 20, 500),
        (sc.S3, "gross_obligations"): (105_000, 50, 525),
    }
    out = render.render(d)
    assert out[render.FEES].decode().splitlines()[:2] == [
        "coalition,store_id,store_name,fee,quantity,rate,rate_unit,amount,currency",
        "tehran-mall,STORE0000000001,Cafe Naderi,issued_points,100,10,rials per point,1000,364",
    ]
    mall = json.loads(out[render.SETTLEMENT])["coalitions"]["tehran-mall"]
    assert mall["fees"] == {"lines": 7, "amount": 5_075, "by_fee": {
        "issued_points": 1_000, "redeemed_points": 3_000, "gross_obligations": 1_075}}


def test_the_operator_is_a_party_and_positions_sum_to_zero(stores: dict[str, StoreInfo]) -> None:
    d = day_of(stores)
    assert d.fees is not None
    assert {p.store_id: p.net_amount for p in d.fees.positions} == {
        sc.S1: -2_300, sc.S2: -1_750, sc.S3: -1_025, OP: 5_075}
    # Money: points at 1,000 rials (S1 -5,000, S2 +10,000, S3 -5,000), the purse (S1 +50,000,
    # S3 -50,000) and the fee above.
    assert d.money is not None
    net = {p.store_id: p.net_amount for p in d.money.positions}
    assert net == {sc.S1: 42_700, sc.S2: 8_250, sc.S3: -56_025, OP: 5_075}
    assert sum(net.values()) == 0
    assert sum(p.net for p in d.fees.positions) == 0
    rows = render.render(d)[render.NET_POSITIONS].decode().splitlines()
    assert rows[0] == ("party_id,party_name,coalition,points_amount,stored_value_amount,"
                       "fee_amount,rewards_amount,payable,receivable,net_amount,currency")
    assert rows[1] == "STORE0000000001,Cafe Naderi,tehran-mall,-5000,50000,-2300,0,62300," \
                      "105000,42700,364"
    assert rows[4].startswith("operator:tehran-mall,شرکت باشگاه مشتریان تهران\u200cمال,")
    assert rows[4].endswith(",0,0,5075,0,0,5075,5075,364")
    # Points and stored value are what they were without a fee (the expected files hold).
    assert [p.net_amount for p in d.points.positions] == [-5_000, 10_000, -5_000]


def test_the_basis_points_round_down_and_the_store_keeps_the_fraction(
        stores: dict[str, StoreInfo]) -> None:
    d = day_of(with_terms(stores, gross_basis_points=37))
    # 60,000 x 37 / 10,000 = 222; 50,000 x 37 / 10,000 = 185; 105,000 x 37 / 10,000 = 388.5
    assert {k[0]: v[2] for k, v in lines(d).items() if k[1] == "gross_obligations"} == {
        sc.S1: 222, sc.S2: 185, sc.S3: 388}


def test_a_day_of_reversals_only_gives_fee_back(stores: dict[str, StoreInfo]) -> None:
    """Entry 107 alone: a reversal at S3 of yesterday's redemption of S1's points, 25 points
    back. The fee follows the points (-25 x 20 = -500); the reversal is an obligation of S3 to
    S1 that day (25,000 rials), which bears the basis points like any other (125): S3's lines
    sum to -375, which the operator owes S3."""
    d = day_of(stores, rows=[sc.ROWS[6]])
    assert lines(d) == {(sc.S3, "redeemed_points"): (-25, 20, -500),
                        (sc.S3, "gross_obligations"): (25_000, 50, 125)}
    assert d.fees is not None
    assert [(o.payer, o.payee, o.amount) for o in d.fees.obligations] == [(OP, sc.S3, 375)]
    assert {p.store_id: p.net_amount for p in d.fees.positions} == {
        sc.S1: 0, sc.S2: 0, sc.S3: 375, OP: -375}


def test_a_coalition_without_fee_charges_nothing(stores: dict[str, StoreInfo]) -> None:
    plain = {k: dataclasses.replace(v, terms=None) for k, v in stores.items()}
    d = day_of(plain)
    assert d.fee_lines == [] and d.transfers == [] and d.bank_coalitions == {}
    assert d.money is not None
    assert {p.store_id for p in d.money.positions} == {sc.S1, sc.S2, sc.S3}
    assert render.BANK_BATCH not in render.render(d)


# -- the monthly fee ----------------------------------------------------------------------------


def test_the_monthly_fee_is_charged_once_on_the_last_day_of_the_jalali_month(
        stores: dict[str, StoreInfo]) -> None:
    """Azar 1405 runs from 2026-11-22 to 2026-12-21: settling every day from Aban's last day to
    Dey's first charges each store 5,000,000 on 2026-11-21 (Aban 30) and on 2026-12-21 (Azar
    30), never in between, and settling a day again charges the same, not more."""
    charged: dict[dt.date, set[str]] = {}
    for n in range(33):
        day = dt.date(2026, 11, 21) + dt.timedelta(days=n)
        d = day_of(stores, day=day, rows=[])
        monthly = {f.store_id for f in d.fee_lines if f.fee == "monthly"}
        assert all(f.amount == 5_000_000 for f in d.fee_lines if f.fee == "monthly")
        if monthly:
            charged[day] = monthly
        assert day_of(stores, day=day, rows=[]) == d  # a re-run recomputes exactly
    assert charged == {dt.date(2026, 11, 21): {sc.S1, sc.S2, sc.S3},
                       dt.date(2026, 12, 21): {sc.S1, sc.S2, sc.S3}}


def test_the_monthly_fee_of_a_gregorian_coalition_falls_on_the_gregorian_month_end(
        stores: dict[str, StoreInfo]) -> None:
    greg = with_terms(stores, calendar="gregorian")
    days = [dt.date(2026, 11, 21) + dt.timedelta(days=n) for n in range(45)]
    charged = [d for d in days if any(f.fee == "monthly" for f in day_of(greg, d, []).fee_lines)]
    assert charged == [dt.date(2026, 11, 30), dt.date(2026, 12, 31)]
    leap = [dt.date(2028, 2, 28), dt.date(2028, 2, 29)]
    assert [any(f.fee == "monthly" for f in day_of(greg, d, []).fee_lines) for d in leap] == \
        [False, True]


def test_the_monthly_fee_moves_money_to_the_operator(stores: dict[str, StoreInfo]) -> None:
    d = day_of(stores, day=dt.date(2026, 12, 21), rows=[])
    assert d.money is not None
    assert {p.store_id: p.net_amount for p in d.money.positions} == {
        sc.S1: -5_000_000, sc.S2: -5_000_000, sc.S3: -5_000_000, OP: 15_000_000}


# -- the bank batch -----------------------------------------------------------------------------


def batch_rows(d: DaySettlement) -> list[list[str]]:
    text = render.render(d)[render.BANK_BATCH].decode().splitlines()
    assert text[0] == ",".join(bank.HEADER)
    return [line.split(",") for line in text[1:]]


def test_the_net_batch_pays_every_net_position_through_the_operators_account(
        stores: dict[str, StoreInfo]) -> None:
    d = day_of(stores)
    iban = {s.id: s.iban for s in stores.values()}
    terms = next(iter(stores.values())).terms
    assert terms is not None
    iban[OP] = terms.operator_iban
    rows = batch_rows(d)
    details = [(r[4], r[7], int(r[10])) for r in rows if r[0] == "D"]
    assert details == [(OP, sc.S1, 42_700), (OP, sc.S2, 8_250), (sc.S3, OP, 56_025)]
    for r in rows[:-1]:
        assert (r[6], r[9]) == (iban[r[4]], iban[r[7]])
        assert r[11] == "364" and r[12] == "LPS tehran-mall 2026-11-23 net"
    assert [r[2] for r in rows[:-1]] == [f"LPS20261123{n:06d}" for n in (1, 2, 3)]
    # Trailer: the count and the total; in less out is what the operator keeps, its fee.
    assert rows[-1][:4] == ["T", "3", "", "tehran-mall"] and int(rows[-1][10]) == 106_975
    paid_in = sum(a for payer, _, a in details if payer != OP)
    paid_out = sum(a for payer, _, a in details if payer == OP)
    assert paid_in - paid_out == 5_075


def test_the_gross_batch_pays_every_obligation_and_totals_them(
        stores: dict[str, StoreInfo]) -> None:
    d = day_of(with_terms(stores, bank_batch="gross"))
    rows = batch_rows(d)
    details = [(r[4], r[7], int(r[10]), r[12].rsplit(" ", 1)[1]) for r in rows if r[0] == "D"]
    assert sorted(details) == sorted([
        (sc.S1, sc.S2, 60_000, "points"), (sc.S2, sc.S3, 50_000, "points"),
        (sc.S3, sc.S1, 55_000, "points"), (sc.S3, sc.S1, 50_000, "sv"),
        (sc.S1, OP, 2_300, "fee"), (sc.S2, OP, 1_750, "fee"), (sc.S3, OP, 1_025, "fee")])
    assert d.fees is not None
    every = [*d.points.obligations, *d.stored_value.obligations, *d.fees.obligations]
    assert rows[-1][0] == "T" and int(rows[-1][1]) == len(every) == 7
    assert int(rows[-1][10]) == sum(o.amount for o in every) == 220_075


def test_a_store_without_iban_stops_the_settlement_naming_it(stores: dict[str, StoreInfo]) -> None:
    missing = {**stores, sc.S3: dataclasses.replace(stores[sc.S3], iban=None)}
    with pytest.raises(ConfigurationError) as err:
        day_of(missing)
    assert f"store {sc.S3} (Enghelab Sports Club) has no iban" in str(err.value)
    assert f"[store.{sc.S3}]" in str(err.value) and err.value.exit_code == 2
    # Even on a day it would neither pay nor be paid: the configuration is incomplete.
    with pytest.raises(ConfigurationError, match=sc.S3):
        day_of(missing, rows=[])
    # Every store without one is named in one run.
    two = {**missing, sc.S1: dataclasses.replace(stores[sc.S1], iban=None)}
    with pytest.raises(ConfigurationError,
                       match=f"stores {sc.S1} \\(Cafe Naderi\\), {sc.S3} \\(Enghelab"):
        day_of(two)


def test_a_store_id_that_is_the_operators_party_id_is_refused(stores: dict[str, StoreInfo]) -> None:
    from settlement.records import InputError

    clash = {**stores, OP: dataclasses.replace(stores[sc.S1], id=OP)}
    with pytest.raises(InputError, match="party ID of coalition tehran-mall's operator"):
        day_of(clash, rows=[])


def test_the_fee_terms_and_ibans_are_inputs_of_the_seal(stores: dict[str, StoreInfo]) -> None:
    """Any change to what the files show changes the inputs digest, so a sealed day is never
    silently settled again with other rates or accounts."""
    base = day_of(stores).inputs_digest
    assert day_of(with_terms(stores, per_redeemed_point=21)).inputs_digest != base
    assert day_of(with_terms(stores, bank_batch="gross")).inputs_digest != base
    other = {**stores, sc.S1: dataclasses.replace(stores[sc.S1], iban=stores[sc.S2].iban)}
    assert day_of(other).inputs_digest != base
    assert day_of(stores).inputs_digest == base
