"""What the hostile simulation found (tests/switch/test_hostile.py), one minimal case each.

Each failed before its fix (the commit that fixed it says so). Most decide through the core and
the SQLite journal the way the switch does (`Journaled`) and end with a restart that must give
back the state the switch had; two stay in memory (one group commit, and apply's own check).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from iso8583 import Message
from iso8583.loyalty import parse_tlv
from switch.core import (
    NO_CHECKS,
    Decision,
    MoneyLimits,
    Request,
    apply,
    decide,
    handle,
    in_memory,
    needs,
    new_state,
    parse_request,
    snapshot,
)
from switch.core.programs.rules import program_rules
from tests.switch.journaled import Journaled
from tests.switch.support import (
    NOW,
    T1,
    T2,
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

A = card(71)


def tags(d: Decision) -> dict[str, str]:
    assert d.response is not None and d.response.fields[39] == "00", d.reason
    return parse_tlv(str(d.response.fields.get(48, "")))


def code(d: Decision | Message | None) -> str:
    resp = d.response if isinstance(d, Decision) else d
    assert resp is not None
    return str(resp.fields[39])


@pytest.mark.parametrize(("number", "value"), [
    (49, "\u06f3\u06f6\u06f4"),          # Persian digits
    (22, "\u0660\u0665\u0661"),          # Arabic-Indic
    (25, "\uff10\uff10"),                # full-width
    (12, "10101\u00b2"),                 # a superscript
    (13, "112\u00b3"),
    (22, "05"),                          # n 3 is three digits
    (52, "12345678"),                    # b 8 is bytes
])
def test_a_field_the_core_does_not_read_is_still_checked(
        tmp_path: Path, number: int, value: str) -> None:
    """docs/protocol.md §2: a field whose content breaks its format is `30`, whichever field;
    numbers are ASCII 0-9 only."""
    j = Journaled(tmp_path)
    j.send(sign_on(T1))
    assert j.rc(earn(T1, 1, A, 100_000, extra={number: value})) == "30"
    assert A not in j.state.cards
    j.restart()


def test_a_network_message_with_a_malformed_field_is_a_format_error(tmp_path: Path) -> None:
    j = Journaled(tmp_path)
    assert j.rc(request("0800", T1, 1, extra={70: "001", 49: "\u06f3\u06f6\u06f4"})) == "30"
    assert not j.state.terminals[T1].signed_on
    j.restart()


@pytest.mark.parametrize("rrn", [
    "\u06f0" * 11 + "\u06f1",                    # the earn's RRN in Persian digits
    "00000000002",                               # eleven digits
    "00000000002 ",
    "ABCDEFGHIJKL",
])
def test_a_return_whose_or_is_not_an_rrn_is_a_format_error(tmp_path: Path, rrn: str) -> None:
    """docs/protocol.md §3: `OR` is the original's RRN, the 12 ASCII digits of its DE37."""
    j = Journaled(tmp_path)
    j.send(sign_on(T1))
    sale = j.send(earn(T1, 1, A, 300_000)).response
    assert sale is not None and sale.fields[37] == "000000000002"
    ret = request("0200", T1, 2, pan=A, pc="200000", amount=100_000, tags={"OR": rrn})
    assert j.rc(ret) == "30"
    assert j.points(A) == 30
    j.restart()


def test_an_earn_with_returns_standing_cannot_be_reversed_until_they_are(
        tmp_path: Path) -> None:
    """Reversing the earn would take its points back whole, on top of what its returns took
    back already: 30 points earned, 10 returned, and the card would end at -10."""
    j = Journaled(tmp_path)
    j.send(sign_on(T1))
    sale = earn(T1, 1, A, 300_000)
    rrn = str(j.send(sale).response.fields[37])  # type: ignore[union-attr]
    back = request("0200", T1, 2, pan=A, pc="200000", amount=100_000, tags={"OR": rrn})
    assert j.rc(back) == "00" and j.points(A) == 20
    d = j.send(reversal(sale, 3))
    assert code(d) == "12" and d.entries[0].lot_deltas == [] and j.points(A) == 20
    j.restart()
    assert j.rc(reversal(back, 4)) == "00" and j.points(A) == 30
    assert j.rc(reversal(sale, 5)) == "00" and j.points(A) == 0
    j.restart()


def test_uncommitted_returns_stand_against_a_reversal_too(tmp_path: Path) -> None:
    """The same within one group commit: the earn and its return are still in memory."""
    state = new_state(example_config())
    handle(state, sign_on(T1), NOW)
    sale = earn(T1, 1, A, 300_000)
    rrn = str(handle(state, sale, NOW).response.fields[37])  # type: ignore[union-attr]
    back = request("0200", T1, 2, pan=A, pc="200000", amount=100_000, tags={"OR": rrn})
    assert handle(state, back, NOW).response.fields[39] == "00"  # type: ignore[union-attr]
    assert handle(state, reversal(sale, 3), NOW).response.fields[39] == "12"  # type: ignore[union-attr]
    assert state.cards[A].points == 20


@pytest.mark.parametrize("batch", ["OLD001", "12345", "0000001", "00 001", ""])
def test_a_batch_number_is_six_digits(tmp_path: Path, batch: str) -> None:
    """docs/protocol.md §2: DE62 carries the batch number, 6 digits, in 0200/0220/0500."""
    j = Journaled(tmp_path)
    j.send(sign_on(T1))
    assert j.rc(earn(T1, 1, A, 100_000, batch=batch)) == "30"
    assert j.rc(batch_close(T1, 2, batch, {})) == "30"
    assert A not in j.state.cards and j.state.totals == {}
    assert j.rc(earn(T1, 3, A, 100_000, batch="000001")) == "00"
    j.restart()


def test_the_nightly_downgrade_is_the_cut_overs_whatever_comes_first_in_the_day(
        tmp_path: Path) -> None:
    """docs/programs.md, "Tiers": before a card's first message of day D its tier becomes
    min(held, qualified(spend of the 12 months ending D - 1)), exactly what a batch at the
    cut-over would do. A return on D of an earn of D - 1 changes that spend only for D + 1."""
    cfg = example_config(tmp_path / "lps.db")
    j = Journaled(tmp_path, cfg, program_rules(cfg))
    day1, day2, day3 = NOW, NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=2)
    j.send(sign_on(T1, now=day1), day1)
    sale = earn(T1, 1, A, 60_000_000, now=day1)
    d = j.send(sale, day1)
    assert tags(d)["TR"] == "SILVER"
    rrn = str(d.response.fields[37])  # type: ignore[union-attr]
    back = request("0200", T1, 2, pan=A, pc="200000", amount=30_000_000, tags={"OR": rrn},
                   now=day2)
    assert tags(j.send(back, day2))["TR"] == "SILVER"        # held at D's cut-over
    assert tags(j.send(earn(T1, 3, A, 1_000_000, now=day2), day2))["EP"] == "125"  # x1.25
    j.restart(day2)
    assert tags(j.send(inquiry(T1, 4, A, now=day3), day3))["TR"] == "BLUE"  # 31M by D + 1
    j.restart(day3)


def test_a_reversal_on_a_later_day_settles_the_nightly_downgrade_first(
        tmp_path: Path) -> None:
    """The same for a reversal on D of an earn of D - 1 that upgraded nothing: D's tier is
    what D's cut-over left; the lower spend counts from D + 1."""
    cfg = example_config(tmp_path / "lps.db")
    j = Journaled(tmp_path, cfg, program_rules(cfg))
    day1, day2, day3 = NOW, NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=2)
    j.send(sign_on(T1, now=day1), day1)
    first = earn(T1, 1, A, 30_000_000, now=day1)
    assert tags(j.send(first, day1))["TR"] == "BLUE"
    assert tags(j.send(earn(T1, 2, A, 30_000_000, now=day1), day1))["TR"] == "SILVER"
    assert j.rc(reversal(first, 3, now=day2), day2) == "00"   # 30M through D - 1 now
    assert tags(j.send(inquiry(T1, 4, A, now=day2), day2))["TR"] == "SILVER"
    j.restart(day2)
    assert tags(j.send(inquiry(T1, 5, A, now=day3), day3))["TR"] == "BLUE"
    j.restart(day3)


@pytest.mark.parametrize("mti", ["0200", "0220"])
def test_an_unsupported_processing_code_is_refused_like_an_unsupported_mti(
        tmp_path: Path, mti: str) -> None:
    """docs/protocol.md §5: `12` for an unsupported processing code is a reject, journaled and
    not remembered, whatever else is wrong: a recovered switch must answer it as the live one
    does (the live one remembered it, recovery does not load rejects)."""
    j = Journaled(tmp_path)
    odd = request(mti, T1, 1, pan=A, pc="900045", amount=1_000)
    assert j.rc(odd) == "12"                       # not 58: T1 is not signed on
    j.restart()
    j.send(sign_on(T1))
    assert j.rc(odd) == "12"
    j.restart()


def test_a_batch_beyond_lowered_limits_still_takes_what_stays_within_them(
        tmp_path: Path) -> None:
    """docs/protocol.md §10: a total already beyond a limit (the limits were lowered) may not
    grow, the others may; apply must not take the batch's old excess for a broken decision
    (that stops the switch: fail-stop on every request of the batch)."""
    j = Journaled(tmp_path)
    j.send(sign_on(T1))
    for stan in (1, 2):
        assert j.rc(earn(T1, stan, A, 100_000)) == "00"     # two credits in batch 000001
    j.limits = j.state.limits = MoneyLimits(max_batch_count=1)
    assert j.rc(burn(T1, 3, A, 1_000)) == "00"               # the first debit: within
    assert j.rc(earn(T1, 4, A, 100_000)) == "61"             # a third credit: further beyond
    assert j.points(A) == 19
    j.restart()


def test_apply_still_refuses_a_decision_that_grows_a_total_beyond_its_limit() -> None:
    state = new_state(example_config())
    handle(state, sign_on(T1), NOW)
    req = parse_request(earn(T1, 1, A, 100_000), state.protocol)
    assert isinstance(req, Request)
    decision = decide(state, req, in_memory(state, needs(state, req), NO_CHECKS), NOW)
    before = snapshot(state)
    state.limits = MoneyLimits(max_batch_count=0)    # decided within, applied beyond
    with pytest.raises(AssertionError, match="out of bounds"):
        apply(state, decision)
    assert snapshot(state) == before


def test_a_card_beyond_a_lowered_limit_cannot_trade_points_for_debt_beyond_it(
        tmp_path: Path) -> None:
    """docs/protocol.md §10 bounds a card's positive lots and its debts each: a return that
    brings the positive lots back under a lowered limit while taking the debts below minus
    it passes the debts' bound, and is declined (it used to be netted against the other)."""
    j = Journaled(tmp_path)
    j.send(sign_on(T1))
    first = j.send(earn(T1, 1, A, 2_000_000)).response          # lot 1: 200 points
    assert j.rc(earn(T1, 2, A, 2_000_000)) == "00"               # lot 2: 200 points
    assert j.rc(burn(T1, 3, A, 250_000)) == "00"                 # lot 1 spent, lot 2 at 150
    j.limits = j.state.limits = MoneyLimits(max_points=40)      # 150 is beyond it now
    rrn = str(first.fields[37])  # type: ignore[union-attr]
    back = request("0200", T1, 4, pan=A, pc="200000", amount=2_000_000, tags={"OR": rrn})
    assert j.rc(back) == "61"          # 150 taken back, then 50 of debt: below -40
    assert j.points(A) == 150
    assert j.rc(burn(T1, 5, A, 100_000)) == "00"                 # moving back is allowed
    j.restart()


def test_a_return_naming_rrn_zero_is_an_unknown_original_not_a_system_error(
        tmp_path: Path) -> None:
    """OR 000000000000 names journal row 0, which no answer ever carried: 25, as any RRN that
    names no earn (it was a 96, logged at ERROR as a bug, for anyone to send)."""
    j = Journaled(tmp_path)
    j.send(sign_on(T1))
    assert j.rc(earn(T1, 1, A, 300_000)) == "00"
    j.restart()      # the earn is in the journal: a return reads it from there
    back = request("0200", T1, 2, pan=A, pc="200000", amount=1, tags={"OR": "0" * 12})
    assert j.rc(back) == "25"
    assert j.points(A) == 30
    j.restart()


# -- discounts at the till and paid memberships (docs/protocol.md §4) ---------------------------


def till(tid: str, stan: int, pan: str, amount: int, now: dt.datetime = NOW,
         **tlv: str) -> Message:
    return request("0200", tid, stan, pan=pan, pc="940000", amount=amount, tags=tlv or None,
                   now=now)


def club_card(tid: str, stan: int, pan: str, level: str, price: int,
              now: dt.datetime = NOW) -> Message:
    return request("0200", tid, stan, pan=pan, pc="950000", amount=price, tags={"ML": level},
                   now=now)


def test_su_at_a_store_that_values_no_stamp_rewards_is_refused_even_for_none(
        tmp_path: Path) -> None:
    """docs/protocol.md §4 "Discounts at the till": `SU` at a store that values no stamp
    rewards is `12`, as `BQ` at a store without the offer, whatever it asks for; `SU` 0 was
    taken for no `SU` at all (a discount approved)."""
    j = Journaled(tmp_path)
    j.send(sign_on(T2))
    assert j.rc(till(T2, 1, A, 5_000_000, SU="0")) == "12"
    assert j.rc(till(T2, 2, A, 5_000_000)) == "00"          # 20 % off above 5,000,000
    j.restart()


def test_free_items_priced_nothing_are_no_part_of_a_discount(tmp_path: Path) -> None:
    """docs/protocol.md §3, DE48 `DB`: the parts that take something off. Free items priced
    `BP` 0 are none, as a percent that rounds down to nothing is none (`DB` was
    `BG=0,PT=100000`)."""
    j = Journaled(tmp_path)
    j.send(sign_on(T1))
    assert j.rc(earn(T1, 1, A, 1_000_000)) == "00"                       # 100 points
    d = j.send(till(T1, 2, A, 1_000_000, BQ="3", BP="0", DP="100"))
    assert tags(d)["DB"] == "PT=100000" and tags(d)["CD"] == "100000"
    j.restart()


def test_a_membership_and_its_renewal_reversed_in_turn_hold_nothing(tmp_path: Path) -> None:
    """docs/programs.md "Paid memberships": a sale renewed since loses the days it added, so
    only what was paid for is held. Reversing the first sale, then its renewal, left the
    renewal's days held (the renewal's reversal found the term shorter than its own and took
    nothing): GOLD the next day, and a silver card refused as lower than it."""
    cfg = example_config(tmp_path / "lps.db")
    j = Journaled(tmp_path, cfg, program_rules(cfg))
    j.send(sign_on(T1))
    first, renewal = club_card(T1, 1, A, "gold-quarter", 3_000_000), \
        club_card(T1, 2, A, "gold-quarter", 3_000_000)
    assert tags(j.send(first))["MU"] == "20270222"
    assert tags(j.send(renewal))["MU"] == "20270522"
    assert j.rc(reversal(first, 3)) == "00"                 # the renewal's 89 days stay
    assert j.rc(reversal(renewal, 4)) == "00"               # and go
    j.restart()
    day2 = NOW + dt.timedelta(days=1)
    assert tags(j.send(inquiry(T1, 5, A, now=day2), day2))["TR"] == "BLUE"
    assert tags(j.send(club_card(T1, 6, A, "silver", 4_000_000, day2), day2))["MU"] == \
        "20271123"
    j.restart(day2)


def test_a_reversal_leaves_the_tier_of_a_membership_still_running(tmp_path: Path) -> None:
    """docs/programs.md "Paid memberships": the card holds at least the level's tier through
    the last day. An earn that made the card SILVER, then a silver card sold, then the earn
    reversed: the tier fell back to BLUE for the rest of the day (the reversal's own rule,
    docs/programs.md "Tiers"), below the membership it holds."""
    cfg = example_config(tmp_path / "lps.db")
    j = Journaled(tmp_path, cfg, program_rules(cfg))
    j.send(sign_on(T1))
    j.send(sign_on(T2))
    sale = earn(T1, 1, A, 60_000_000)
    assert tags(j.send(sale))["TR"] == "SILVER"
    assert tags(j.send(club_card(T1, 2, A, "silver", 4_000_000)))["TR"] == "SILVER"
    assert j.rc(reversal(sale, 3)) == "00"
    assert tags(j.send(inquiry(T1, 4, A)))["TR"] == "SILVER"
    assert tags(j.send(till(T2, 5, A, 1_000_000)))["DB"] == "TP=50000"   # SILVER's 5 %
    j.restart()
