"""Netting and breakage on hand-built records: positions, instructions, summaries, checks.

docs/settlement.md ("Obligations from provenance", "Multilateral netting", `positions.csv`,
`obligations.csv`); every figure below is worked by hand.
"""

from __future__ import annotations

import datetime as dt

import pytest

from settlement.expiry import breakage
from settlement.netting import (
    FlowBook,
    Instruction,
    Obligation,
    Position,
    StoreInfo,
    flows_of,
    fraction_str,
    instructions,
    obligations,
    positions,
    summaries,
)
from settlement.records import Draw, Flow, InputError, InvariantError, LotExpiry, Row
from switch.core import BaseRules
from tests.switch.support import example_config

DAY = dt.date(2026, 11, 23)
STORES = {
    "S1": StoreInfo("S1", "Cafe", "A", 1000, "364"),
    "S2": StoreInfo("S2", "Books", "A", 1000, "364"),
    "S3": StoreInfo("S3", "Gym", "A", 1000, "364"),
    "S4": StoreInfo("S4", "Euro shop", "B", 7, "978"),
    "S5": StoreInfo("S5", "Euro cafe", "B", 7, "978"),
}


def book(*pairs: tuple[str, str, int], kind: str = "points") -> FlowBook:
    b = FlowBook()
    for payer, payee, units in pairs:
        b.add(Flow(kind, payer, payee, units))
    return b


def test_positions_instructions_and_summary_of_a_coalition_day() -> None:
    """S1 owes S2 10 and S3 4, S2 owes S3 6: S1 pays 14, S2 receives 4, S3 receives 10.
    Gross 20 points (20,000 IRR), net transfers 14 points: netting removed 6,000, ratio
    0.7000; a coalition without obligations has no ratio."""
    obls = obligations(book(("S1", "S2", 10), ("S1", "S3", 4), ("S2", "S3", 6)), STORES,
                       "points")
    assert obls == [Obligation("points", "S1", "S2", 10, 10_000, "364", "A"),
                    Obligation("points", "S1", "S3", 4, 4_000, "364", "A"),
                    Obligation("points", "S2", "S3", 6, 6_000, "364", "A")]
    poss = positions(obls, STORES, "points")
    assert poss == [Position("S1", "Cafe", "A", 14, 0, -14, -14_000, "364"),
                    Position("S2", "Books", "A", 6, 10, 4, 4_000, "364"),
                    Position("S3", "Gym", "A", 0, 10, 10, 10_000, "364"),
                    Position("S4", "Euro shop", "B", 0, 0, 0, 0, "978"),
                    Position("S5", "Euro cafe", "B", 0, 0, 0, 0, "978")]
    assert instructions(poss) == [Instruction("A", "S1", "pay", 14_000, "364"),
                                  Instruction("A", "S2", "receive", 4_000, "364"),
                                  Instruction("A", "S3", "receive", 10_000, "364")]
    (a, b) = summaries(obls, poss, STORES, "points")
    assert (a.kind, b.kind) == ("points", "points")
    assert (a.coalition, a.obligations, a.gross_units, a.gross_amount, a.net_units,
            a.net_amount, a.currency) == ("A", 3, 20, 20_000, 14, 14_000, "364")
    assert (a.removed_amount, a.ratio) == (6_000, "0.7000")
    assert (b.coalition, b.obligations, b.gross_amount, b.net_amount, b.currency, b.ratio) == \
        ("B", 0, 0, 0, "978", None)


def test_stored_value_is_money_already() -> None:
    """docs/settlement.md: stored value is reported in minor units, not at a point value."""
    obls = obligations(book(("S4", "S5", 250), kind="sv"), STORES, "sv")
    assert obls == [Obligation("sv", "S4", "S5", 250, 250, "978", "B")]
    poss = positions(obls, STORES, "sv")
    assert [(p.store_id, p.net, p.net_amount) for p in poss if p.net] == \
        [("S4", -250, -250), ("S5", 250, 250)]
    assert instructions(poss) == [Instruction("B", "S4", "pay", 250, "978"),
                                  Instruction("B", "S5", "receive", 250, "978")]
    one = positions(obligations(book(("S4", "S5", 1), kind="sv"), STORES, "sv"), STORES, "sv")
    assert instructions(one) == [Instruction("B", "S4", "pay", 1, "978"),
                                 Instruction("B", "S5", "receive", 1, "978")]
    summary = summaries(obligations(book(("S4", "S5", 1), kind="sv"), STORES, "sv"), one,
                        STORES, "sv")[1]
    assert (summary.kind, summary.net_units, summary.net_amount) == ("sv", 1, 1)


def test_a_pair_that_turned_negative_is_owed_the_other_way() -> None:
    obls = obligations(book(("S1", "S2", 3), ("S1", "S2", -8), ("S2", "S1", 1)), STORES,
                       "points")
    assert [(o.payer, o.payee, o.units) for o in obls] == [("S2", "S1", 6)]


def test_obligations_are_listed_by_payer_then_payee() -> None:
    """docs/settlement.md, `obligations.csv`: by payer, then payee, each in store ID order;
    here the payees' order is the payers' turned round."""
    obls = obligations(book(("S2", "S1", 2), ("S1", "S3", 5), ("S2", "S3", 1), ("S1", "S2", 4)),
                       STORES, "points")
    assert [(o.payer, o.payee) for o in obls] == [("S1", "S2"), ("S1", "S3"), ("S2", "S1"),
                                                  ("S2", "S3")]


def test_positions_that_do_not_sum_to_zero_stop_the_run() -> None:
    """docs/settlement.md: positions of each coalition must sum to zero (InvariantError)."""
    crossing = [Obligation("points", "S1", "S4", 5, 5_000, "364", "A")]
    with pytest.raises(InvariantError, match=r"^coalition A: points net positions sum to -5 "
                                             r"units / -5000 minor units instead of zero$"):
        positions(crossing, STORES, "points")


def test_value_crossing_coalitions_or_unknown_stores_is_refused() -> None:
    with pytest.raises(InputError, match="coalitions do not settle with each other"):
        obligations(book(("S1", "S4", 1)), STORES, "points")
    with pytest.raises(InputError, match=r"store 'S9' \(accepted value issued by S1\)"):
        obligations(book(("S1", "S9", 1)), STORES, "points")


@pytest.mark.parametrize(("num", "den", "text"), [
    (1, 3, "0.3333"), (2, 3, "0.6667"), (1, 8, "0.1250"), (1, 20_000, "0.0001"),
    (1, 20_001, "0.0000"), (0, 5, "0.0000"), (7, 7, "1.0000"), (15, 4, "3.7500"),
    (1, 0, None),
])
def test_ratios_are_rounded_half_up_in_integers(num: int, den: int, text: str | None) -> None:
    assert fraction_str(num, den) == text


def _row(kind: str, delta: int, *, original_kind: str = "", pc: str = "",
         rc: str = "00") -> Row:
    return Row(id=7, business_day=DAY, kind=kind, pc=pc, store_id="S2", response_code=rc,
               original_kind=original_kind, draws=(Draw(1, "points", "S1", delta),))


def test_flows_of_redemptions_reversals_and_other_entries() -> None:
    """A redemption at S2 of S1's points: S1 owes S2. Its reversal flows back. A reversal is
    classified by its original's kind, and by its processing code only when that is unknown."""
    assert flows_of(_row("redeem", -4)) == [Flow("points", "S1", "S2", 4)]
    assert flows_of(_row("return", -4)) == [Flow("points", "S1", "S2", 4)]
    assert flows_of(_row("reversal", 4, original_kind="redeem")) == \
        [Flow("points", "S1", "S2", -4)]
    assert flows_of(_row("reversal", 4, pc="900000")) == [Flow("points", "S1", "S2", -4)]
    assert flows_of(_row("reversal", 4, original_kind="earn", pc="900000")) == []
    assert flows_of(_row("reversal", 4, pc="000000")) == []
    assert flows_of(_row("earn", 4)) == []


def test_a_draw_the_wrong_way_or_a_declined_entry_that_moved_lots_is_refused() -> None:
    with pytest.raises(InputError, match=r"^journal entry 7 \(redeem\): lot 1 moved by 4, "
                                         r"the wrong way for this kind of entry$"):
        flows_of(_row("redeem", 4))
    with pytest.raises(InputError, match="the wrong way"):
        flows_of(_row("reversal", -4, original_kind="redeem"))
    with pytest.raises(InputError, match=r"^journal entry 7: declined \('51'\) yet it changed"):
        flows_of(_row("redeem", -4, rc="51"))


def test_a_top_up_at_a_store_without_a_purse_is_credited_as_paid() -> None:
    """docs/switch.md, RuleBook: `topup_credit` adds the store's `topup_bonus_percent`
    (rounded down); a store without stored value has no bonus."""
    cfg = example_config()
    rules = BaseRules()
    assert rules.topup_credit(cfg.stores["STORE0000000001"], 1_000) == 1_000
    assert rules.topup_credit(cfg.stores["STORE0000000003"], 1_001) == 1_151


def test_a_draw_of_nothing_moves_nothing() -> None:
    assert flows_of(_row("redeem", 0)) == []
    assert flows_of(_row("reversal", 0, original_kind="redeem")) == []


def test_breakage_per_issuing_store() -> None:
    """docs/settlement.md, Expiry and breakage: a lot lapsing on D brings its whole positive
    remaining (a debt brings nothing); a lot lapsed earlier brings only what changed over D;
    every configured store has a row, by coalition then store."""
    lots = [LotExpiry(1, "S1", DAY, 6, 6), LotExpiry(2, "S1", DAY, 4, 4),
            LotExpiry(3, "S2", DAY - dt.timedelta(days=3), -3, 2),
            LotExpiry(4, "S2", DAY, -5, -5), LotExpiry(5, "S4", DAY - dt.timedelta(days=1), 9, 6)]
    rows = [(b.store_id, b.store_name, b.coalition, b.lots, b.points, b.amount, b.currency)
            for b in breakage(lots, STORES, DAY)]
    assert rows == [("S1", "Cafe", "A", 2, 10, 10_000, "364"),
                    ("S2", "Books", "A", 1, 2, 2_000, "364"),
                    ("S3", "Gym", "A", 0, 0, 0, "364"),
                    ("S4", "Euro shop", "B", 0, -3, -21, "978"),
                    ("S5", "Euro cafe", "B", 0, 0, 0, "978")]


def test_breakage_refuses_lots_not_due_or_of_unknown_stores() -> None:
    with pytest.raises(InputError, match=r"^lot 9 expires on 2026-11-24, after 2026-11-23$"):
        breakage([LotExpiry(9, "S1", DAY + dt.timedelta(days=1), 1, 1)], STORES, DAY)
    with pytest.raises(InputError, match=r"^lot 9 was issued by 'S9', not configured$"):
        breakage([LotExpiry(9, "S9", DAY, 1, 1)], STORES, DAY)
