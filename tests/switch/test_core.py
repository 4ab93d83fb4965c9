"""The authorizer, path by path (PROTOCOL.md §4 and §5), on the example configuration."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from iso8583 import Message
from iso8583.loyalty import parse_de54, parse_tlv
from switch.core import available_points, card_command, handle, new_state
from switch.core.state import State
from tests.switch.support import (
    NOW,
    T1,
    T2,
    T3,
    batch_close,
    burn,
    card,
    earn,
    example_config,
    inquiry,
    request,
    reversal,
    sign_on,
)

PAN = card(1)


def fresh() -> State:
    state = new_state(example_config())
    for tid in (T1, T2, T3):
        resp = handle(state, sign_on(tid), NOW).response
        assert resp is not None and resp.fields[39] == "00"
    return state


def rc(state: State, msg: Message, now: dt.datetime = NOW) -> str:
    resp = handle(state, msg, now).response
    assert resp is not None
    return str(resp.fields[39])


def points(state: State, pan: str = PAN) -> int:
    return available_points(state.cards[pan], NOW.date())


# -- earn ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("tid", "amount", "expected"),
    [
        (T1, 150_000, 15),     # 1 point per 10,000
        (T1, 9_999, 0),        # below one step: approved, 0 points
        (T2, 150_000, 30),     # 2 points per 10,000
        (T2, 99_999, 0),       # under min_amount 100,000
        (T2, 100_000, 20),     # exactly min_amount
        (T3, 39_999, 1),       # 1 point per 20,000, rounded down
    ],
)
def test_earn_points_follow_the_store_rule(tid: str, amount: int, expected: int) -> None:
    state = fresh()
    d = handle(state, earn(tid, 1, PAN, amount), NOW)
    assert d.response is not None
    assert d.response.fields[39] == "00"
    assert parse_tlv(str(d.response.fields[48]))["EP"] == str(expected)
    assert parse_de54(str(d.response.fields[54]))[0].amount == expected
    assert points(state) == expected
    assert [e.points for e in d.entries] == [expected]
    assert d.response.mti == "0210" and len(str(d.response.fields[37])) == 12
    assert len(str(d.response.fields[38])) == 6


def test_response_echoes_the_request_fields() -> None:
    state = fresh()
    msg = earn(T1, 7, PAN, 50_000)
    resp = handle(state, msg, NOW).response
    assert resp is not None
    for n in (2, 3, 4, 7, 11, 41, 42, 62):
        assert resp.fields[n] == msg.fields[n]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (earn(T1, 1, card(2)[:-1] + str((int(card(2)[-1]) + 1) % 10), 10_000), "14"),  # Luhn
        (earn(T1, 1, card(2, bin_="999999"), 10_000), "14"),  # not in a coalition BIN
        (earn(T1, 1, PAN, 0), "13"),
        (request("0200", T1, 1, pan=PAN, pc="123456", amount=1), "12"),
        (request("0200", T1, 1, pan=PAN, pc="000000"), "30"),  # DE4 missing
        (request("0200", "T0000009", 1, pan=PAN, pc="000000", amount=1), "03"),
        (earn(T1, 1, PAN, 1, extra={42: "STORE0000000002"}), "03"),  # wrong store
        (earn(T1, 1, PAN, 1, extra={48: "RP00"}), "30"),  # malformed TLV
        (earn(T1, 1, PAN, 1, extra={14: "2001"}), "54"),  # expired card
        (request("0100", T1, 1, pan=PAN, pc="000000", amount=1), "12"),
        (request("0220", T1, 1, pan=PAN, pc="900000", amount=1), "12"),
    ],
)
def test_declines(message: Message, expected: str) -> None:
    state = fresh()
    assert rc(state, message) == expected
    assert all(not c.lots for c in state.cards.values())


def test_sign_on_is_required_then_sign_off_stops() -> None:
    state = new_state(example_config())
    assert rc(state, earn(T1, 1, PAN, 10_000)) == "58"
    assert rc(state, sign_on(T1)) == "00"
    assert rc(state, earn(T1, 2, PAN, 10_000)) == "00"
    assert rc(state, request("0800", T1, 3, extra={70: "002"})) == "00"
    assert rc(state, earn(T1, 4, PAN, 10_000)) == "58"
    assert rc(state, request("0800", T1, 5, extra={70: "301"})) == "00"
    assert rc(state, request("0800", "T0000009", 5, extra={70: "001"})) == "03"


def test_responses_to_responses_are_not_answered() -> None:
    state = fresh()
    assert handle(state, request("0210", T1, 1, pan=PAN, pc="000000", amount=1), NOW).response \
        is None


# -- idempotency --------------------------------------------------------------------------------

def test_retransmission_answers_the_same_and_changes_nothing() -> None:
    state = fresh()
    msg = earn(T1, 1, PAN, 100_000)
    first = handle(state, msg, NOW)
    again = handle(state, msg, NOW + dt.timedelta(seconds=30))
    assert again.retransmission and again.entries == []
    assert again.response == first.response
    assert points(state) == 10


def test_reused_stan_with_different_content_is_94() -> None:
    state = fresh()
    handle(state, earn(T1, 1, PAN, 100_000), NOW)
    assert rc(state, earn(T1, 1, PAN, 200_000)) == "94"
    assert points(state) == 10


def test_same_stan_on_another_day_is_a_new_request() -> None:
    state = fresh()
    handle(state, earn(T1, 1, PAN, 100_000), NOW)
    later = NOW + dt.timedelta(days=1)
    assert rc(state, earn(T1, 1, PAN, 100_000, now=later), later) == "00"
    assert points(state) == 20


# -- burn ---------------------------------------------------------------------------------------

def test_burn_pays_at_point_value_rounding_up_and_never_below_zero() -> None:
    state = fresh()
    handle(state, earn(T1, 1, PAN, 100_000), NOW)  # 10 points
    d = handle(state, burn(T2, 2, PAN, 2_500), NOW)  # 2.5 points -> 3
    assert d.response is not None and d.response.fields[39] == "00"
    assert parse_tlv(str(d.response.fields[48]))["RD"] == "3"
    assert points(state) == 7
    assert rc(state, burn(T2, 3, PAN, 8_000)) == "51"
    assert points(state) == 7
    assert rc(state, burn(T2, 4, PAN, 7_000)) == "00"
    assert points(state) == 0


def test_rp_overrides_the_amount() -> None:
    state = fresh()
    handle(state, earn(T1, 1, PAN, 100_000), NOW)
    d = handle(state, burn(T1, 2, PAN, 1_000_000, tags={"RP": "4", "IN": "X1"}), NOW)
    assert d.response is not None and d.response.fields[39] == "00"
    assert points(state) == 6
    assert rc(state, burn(T1, 3, PAN, 1, tags={"RP": "0"})) == "13"


def test_burn_takes_soonest_expiring_lots_first_and_records_them() -> None:
    state = fresh()
    day1, day2 = NOW, NOW + dt.timedelta(days=3)
    handle(state, earn(T1, 1, PAN, 100_000, now=day1), day1)  # 10 at store 1
    handle(state, earn(T2, 1, PAN, 100_000, now=day2), day2)  # 20 at store 2, later expiry
    d = handle(state, burn(T3, 2, PAN, 15_000, now=day2), day2)
    deltas = [(x.store, x.delta) for x in d.entries[0].lot_deltas]
    assert deltas == [("STORE0000000001", -10), ("STORE0000000002", -5)]


def test_burn_order_same_expiry_takes_oldest_then_lowest_id() -> None:
    state = fresh()
    handle(state, earn(T2, 1, PAN, 100_000), NOW)
    handle(state, earn(T1, 2, PAN, 100_000), NOW)
    d = handle(state, burn(T3, 3, PAN, 5_000), NOW)
    assert [x.store for x in d.entries[0].lot_deltas] == ["STORE0000000002"]


def test_expired_lots_are_not_spendable() -> None:
    state = fresh()
    handle(state, earn(T1, 1, PAN, 100_000), NOW)
    late = NOW + dt.timedelta(days=400)
    assert rc(state, burn(T1, 2, PAN, 1_000, now=late), late) == "51"


# -- reversal -----------------------------------------------------------------------------------

def test_reversal_of_a_burn_restores_exactly_its_lots_once() -> None:
    state = fresh()
    handle(state, earn(T1, 1, PAN, 100_000), NOW)
    handle(state, earn(T2, 2, PAN, 100_000), NOW)
    b = burn(T3, 3, PAN, 15_000)
    handle(state, b, NOW)
    before = {lot.id: lot.remaining for lot in state.cards[PAN].lots}
    d = handle(state, reversal(b, 4), NOW)
    assert d.response is not None and d.response.mti == "0410"
    assert d.response.fields[39] == "00"
    assert sorted((x.lot_id, x.delta) for x in d.entries[0].lot_deltas) == [(1, 10), (2, 5)]
    assert points(state) == 30 and before
    # Repeated reversal (new STAN) and a repeat 0401 of the same one: 00, no effect.
    assert rc(state, reversal(b, 5)) == "00"
    rep = handle(state, reversal(b, 4, mti="0401"), NOW)
    assert rep.retransmission and rep.response == d.response
    assert points(state) == 30


def test_reversal_of_an_earn_already_spent_leaves_a_debt() -> None:
    state = fresh()
    e = earn(T1, 1, PAN, 100_000)
    handle(state, e, NOW)
    handle(state, burn(T1, 2, PAN, 6_000), NOW)
    assert rc(state, reversal(e, 3)) == "00"
    assert points(state) == -6
    assert rc(state, burn(T1, 4, PAN, 1_000)) == "51"


def test_unknown_original_is_25_and_the_late_original_05() -> None:
    state = fresh()
    e = earn(T1, 1, PAN, 100_000)
    assert rc(state, reversal(e, 2)) == "25"
    assert rc(state, e) == "05"
    assert PAN not in state.cards or points(state) == 0
    assert rc(state, request("0420", T1, 3, pan=PAN, pc="000000", amount=100_000,
                             extra={90: "0200" + "000777" + "1123100000" + "0" * 22})) == "25"


def test_reversal_of_a_declined_original_has_no_effect() -> None:
    state = fresh()
    b = burn(T1, 1, PAN, 1_000)
    assert rc(state, b) == "51"
    assert rc(state, reversal(b, 2)) == "00"
    assert points(state) == 0


def test_reversal_needs_de90() -> None:
    state = fresh()
    msg = request("0400", T1, 1, pan=PAN, pc="000000", amount=1, extra={90: "12"})
    assert rc(state, msg) == "30"


# -- advice -------------------------------------------------------------------------------------

def test_advice_applied_however_late_and_without_sign_on() -> None:
    state = new_state(example_config())
    old = NOW - dt.timedelta(days=5)
    msg = request("0220", T1, 1, pan=PAN, pc="000000", amount=100_000, now=old)
    d = handle(state, msg, NOW)
    assert d.response is not None and d.response.mti == "0230"
    assert d.response.fields[39] == "00" and points(state) == 10
    assert handle(state, dataclasses.replace(msg, mti="0221"), NOW).retransmission


def test_advice_on_a_blocked_card_is_declined() -> None:
    state = fresh()
    handle(state, earn(T1, 1, PAN, 10_000), NOW)
    card_command(state, "block", PAN, NOW)
    assert rc(state, request("0220", T1, 2, pan=PAN, pc="000000", amount=1)) == "62"
    card_command(state, "unblock", PAN, NOW)
    assert rc(state, burn(T1, 3, PAN, 1_000)) == "00"


# -- returns ------------------------------------------------------------------------------------

def test_returns_claw_back_in_proportion_never_beyond() -> None:
    state = fresh()
    d = handle(state, earn(T2, 1, PAN, 300_000), NOW)  # 60 points
    assert d.response is not None
    rrn = str(d.response.fields[37])
    ret = request("0200", T2, 2, pan=PAN, pc="200000", amount=100_000, tags={"OR": rrn})
    r = handle(state, ret, NOW)
    assert r.response is not None and r.response.fields[39] == "00"
    assert points(state) == 40
    assert rc(state, request("0200", T2, 3, pan=PAN, pc="200000", amount=250_000,
                             tags={"OR": rrn})) == "13"
    assert rc(state, request("0200", T2, 4, pan=PAN, pc="200000", amount=200_000,
                             tags={"OR": rrn})) == "00"
    assert points(state) == 0
    assert rc(state, reversal(ret, 5)) == "00"
    assert points(state) == 20
    # The reversed return no longer counts: 200,000 returned, 40 points clawed back so far.
    again = handle(state, request("0200", T2, 6, pan=PAN, pc="200000", amount=100_000,
                                  tags={"OR": rrn}), NOW).response
    assert again is not None and parse_tlv(str(again.fields[48]))["RD"] == "20"
    assert points(state) == 0
    assert rc(state, request("0200", T2, 7, pan=PAN, pc="200000", amount=1,
                             tags={"OR": rrn})) == "13"


def test_return_rounds_cumulatively() -> None:
    state = fresh()
    d = handle(state, earn(T1, 1, PAN, 30_000), NOW)  # 3 points
    assert d.response is not None
    rrn = str(d.response.fields[37])
    for stan in (2, 3, 4):
        msg = request("0200", T1, stan, pan=PAN, pc="200000", amount=10_000, tags={"OR": rrn})
        assert rc(state, msg) == "00"
    assert points(state) == 0


def test_return_needs_a_known_original() -> None:
    state = fresh()
    assert rc(state, request("0200", T1, 2, pan=PAN, pc="200000", amount=1,
                             tags={"OR": "999999999999"})) == "25"
    assert rc(state, request("0200", T1, 3, pan=PAN, pc="200000", amount=1)) == "30"


# -- stored value -------------------------------------------------------------------------------

def test_topup_with_bonus_then_pay_at_the_same_store_only() -> None:
    state = fresh()
    d = handle(state, request("0200", T3, 1, pan=PAN, pc="210060", amount=100_000), NOW)
    assert d.response is not None and d.response.fields[39] == "00"
    entries = parse_de54(str(d.response.fields[54]))
    assert [(e.account_type, e.currency, e.amount) for e in entries] == [
        ("00", "999", 0), ("60", "364", 115_000)]
    assert rc(state, request("0200", T1, 2, pan=PAN, pc="006000", amount=1_000)) == "51"
    assert rc(state, request("0200", T3, 3, pan=PAN, pc="006000", amount=115_001)) == "51"
    assert rc(state, request("0200", T3, 4, pan=PAN, pc="006000", amount=115_000)) == "00"
    assert rc(state, request("0200", T1, 5, pan=PAN, pc="210060", amount=1_000)) == "58"


def test_stamp_redemption_needs_a_stamp_program() -> None:
    state = fresh()
    assert rc(state, request("0200", T1, 1, pan=PAN, pc="930000")) == "12"


# -- cards --------------------------------------------------------------------------------------

def test_blocked_card_62_and_other_coalition_57() -> None:
    state = fresh()
    handle(state, earn(T1, 1, PAN, 10_000), NOW)
    card_command(state, "block", PAN, NOW)
    assert rc(state, inquiry(T1, 2, PAN)) == "62"
    other = card(5, bin_="777777")
    card_command(state, "enroll", other, NOW, coalition="tehran-mall")
    state.cards[other].coalition = "elsewhere"
    assert rc(state, inquiry(T1, 3, other)) == "57"


def test_track2_instead_of_de2() -> None:
    state = fresh()
    msg = request("0200", T1, 1, pc="000000", amount=10_000, extra={35: PAN + "=2812"})
    assert rc(state, msg) == "00"
    assert points(state) == 1


# -- batch close --------------------------------------------------------------------------------

def test_batch_close_in_and_out_of_balance() -> None:
    state = fresh()
    e = earn(T1, 1, PAN, 100_000)
    handle(state, e, NOW)
    handle(state, request("0220", T1, 2, pan=PAN, pc="000000", amount=50_000), NOW)
    b = burn(T1, 3, PAN, 2_000)
    handle(state, b, NOW)
    handle(state, burn(T1, 4, PAN, 1_000_000), NOW)  # declined: not counted
    handle(state, reversal(b, 5), NOW)
    good = {74: 2, 86: 150_000, 76: 1, 88: 2_000, 77: 1, 89: 2_000}
    d = handle(state, batch_close(T1, 6, "000001", good), NOW)
    assert d.response is not None and d.response.mti == "0510"
    assert d.response.fields[39] == "00"
    assert rc(state, batch_close(T1, 7, "000001", {**good, 74: 3})) == "95"
    assert rc(state, batch_close(T1, 8, "000002", {})) == "00"


def test_format_error_needs_mandatory_fields() -> None:
    state = fresh()
    msg = earn(T1, 1, PAN, 1)
    del msg.fields[42]
    assert rc(state, msg) == "30"
