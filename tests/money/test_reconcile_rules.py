"""Reconciliation line by line, on hand-built batches (docs/settlement.md, "Reconciliation"
and "Output files": `reconciliation.csv`).

A batch's rows are what the journal reader hands over: its earns, advices, redemptions and
purse purchases, and the reversals of them. The switch's side is recomputed from them; each
differing pair of DE74-77/DE86-89 gets a line naming the rows that explain it, or the
candidates when no exact set of as many rows as the counts differ adds up to the difference.
"""

from __future__ import annotations

import datetime as dt

from settlement.reconcile import MAX_LISTED, ReconLine, find_exact, reconcile, switch_side
from settlement.records import BatchClose, Row, Totals

DAY = dt.date(2026, 11, 23)
CLOSE_ID = 10_000


def txn(i: int, amount: int, kind: str = "earn", rc: str = "00") -> Row:
    pc = {"earn": "000000", "advice": "000000", "redeem": "900000",
          "sv_purchase": "006000"}[kind]
    return Row(id=i, business_day=DAY, kind=kind, pc=pc, terminal_id="T0000001",
               store_id="S1", amount=amount, response_code=rc, batch="000001")


def undo(i: int, original: int, rc: str = "00") -> Row:
    return Row(id=i, business_day=DAY, kind="reversal", terminal_id="T0000001", store_id="S1",
               response_code=rc, original_id=original, batch="")


def close(terminal: Totals, rows: list[Row], switch: Totals | None = None,
          rc: str = "95") -> BatchClose:
    return BatchClose(CLOSE_ID, "T0000001", "S1", "000001", rc, terminal, switch, tuple(rows))


def summary(lines: list[ReconLine]) -> list[tuple[object, ...]]:
    return [(ln.category, ln.fields, ln.terminal_count, ln.switch_count, ln.terminal_amount,
             ln.switch_amount, tuple(r.id for r in ln.explained_by), ln.note) for ln in lines]


def test_the_switch_side_counts_approved_rows_before_the_close_and_their_reversals() -> None:
    rows = [txn(1, 100), txn(2, 200, "advice"), txn(3, 50, rc="51"), txn(4, 30, "redeem"),
            txn(5, 70, "sv_purchase"), txn(6, 5, "redeem", rc="51"), undo(7, 2), undo(8, 4),
            undo(9, 1, rc="25"), undo(10, 5, rc="00"), txn(CLOSE_ID + 1, 999),
            undo(CLOSE_ID + 2, 1)]
    rows[9] = Row(id=10, business_day=DAY, kind="reversal", response_code="00",
                  original_id=None)
    totals, counted, candidates = switch_side(close(Totals(), rows))
    assert totals == Totals(credits=2, credit_reversals=1, debits=2, debit_reversals=1,
                            credit_amount=300, credit_reversal_amount=200, debit_amount=100,
                            debit_reversal_amount=30)
    assert [r.id for r in counted["credit_reversals"]] == [2]
    assert [r.id for r in counted["debit_reversals"]] == [4]
    assert [r.id for r in candidates["credits"]] == [3]
    assert [r.id for r in candidates["debits"]] == [6]
    assert [r.id for r in candidates["credit_reversals"]] == [1]
    assert [r.id for r in candidates["debit_reversals"]] == [5]


def test_a_balanced_batch_is_one_line() -> None:
    rows = [txn(1, 100), txn(2, 40, "redeem")]
    mine = Totals(credits=1, debits=1, credit_amount=100, debit_amount=40)
    assert summary(reconcile(close(mine, rows, rc="00"))) == [
        ("all", "DE74-77/DE86-89", 2, 2, 140, 140, (), "in balance")]
    # Recorded totals that disagree with the journal are named, even when in balance.
    wrong = Totals(credits=1, debits=1, credit_amount=100, debit_amount=41)
    assert summary(reconcile(close(mine, rows, wrong, rc="00")))[0][-1] == \
        "the switch's recorded totals differ from its journal's; in balance against the journal"
    # Without rows the recorded totals are the switch's side.
    assert summary(reconcile(close(mine, [], mine, rc="00")))[0][-1] == "in balance"


def test_the_terminal_counted_a_declined_earn() -> None:
    rows = [txn(1, 100), txn(2, 60, rc="51"), txn(3, 70, rc="51")]
    lines = reconcile(close(Totals(credits=2, credit_amount=170), rows))
    assert summary(lines) == [("credits", "DE74/DE86", 2, 1, 170, 100, (3,),
                               "counted by the terminal, not by the switch")]


def test_the_terminal_counted_a_reversal_the_switch_did_not_see() -> None:
    rows = [txn(1, 100, "redeem"), txn(2, 60, "redeem"), undo(3, 1)]
    terminal = Totals(debits=2, debit_amount=160, debit_reversals=2,
                      debit_reversal_amount=160)
    assert summary(reconcile(close(terminal, rows))) == [
        ("debit_reversals", "DE77/DE89", 2, 1, 160, 100, (2,),
         "counted by the terminal, not by the switch")]


def test_nothing_explains_a_difference_without_rows() -> None:
    lines = reconcile(close(Totals(credits=1, credit_amount=5), [txn(1, 100)],
                            Totals(credits=1, credit_amount=100)))
    assert summary(lines) == [("credits", "DE74/DE86", 1, 1, 5, 100, (1,),
                               "no exact match; candidates")]
    lines = reconcile(close(Totals(credits=1, credit_amount=100, debits=1, debit_amount=5),
                            [txn(1, 100)]))
    assert summary(lines) == [("debits", "DE76/DE88", 1, 0, 5, 0, (),
                               "no transaction in the journal explains it")]


def test_a_higher_amount_with_the_same_count_lists_the_declined_rows() -> None:
    rows = [txn(1, 100), txn(2, 60, rc="51")]
    assert summary(reconcile(close(Totals(credits=1, credit_amount=130), rows))) == [
        ("credits", "DE74/DE86", 1, 1, 130, 100, (2,), "no exact match; candidates")]


def test_candidates_are_listed_in_journal_order_up_to_the_limit() -> None:
    many = [txn(i, 1_000 + i) for i in range(MAX_LISTED + 11, 0, -1)]
    lines = reconcile(close(Totals(credits=1, credit_amount=7), many))
    assert lines[0].explained_by == tuple(sorted(many, key=lambda r: r.id)[:MAX_LISTED])
    assert lines[0].note == \
        f"no exact match; candidates (first {MAX_LISTED} of {MAX_LISTED + 11})"
    exactly = [txn(i, 1_000 + i) for i in range(1, MAX_LISTED + 1)]
    lines = reconcile(close(Totals(credits=1, credit_amount=7), exactly))
    assert lines[0].note == "no exact match; candidates"
    assert len(lines[0].explained_by) == MAX_LISTED


def test_exact_sets_of_one_two_and_three_rows() -> None:
    rows = [txn(i, a) for i, a in enumerate([5, 7, 11, 13, 17], start=1)]
    assert find_exact(rows, 1, 11) == (rows[2],)
    assert find_exact(rows, 1, 12) is None
    assert find_exact(rows, 2, 18) == (rows[0], rows[3])      # 5 + 13 before 7 + 11
    assert find_exact(rows, 2, 24) == (rows[1], rows[4])      # 7 + 17, not 11 + 13
    assert find_exact(rows, 3, 5 + 7 + 17) == (rows[0], rows[1], rows[4])
    assert find_exact(rows, 3, 1) is None
    assert find_exact(rows, 4, 5 + 7 + 11 + 13) is None       # beyond the search limit
    assert find_exact(rows, 0, 0) is None
    assert find_exact(rows[:2], 2, 12) == (rows[0], rows[1])  # as many rows as there are
    assert find_exact(rows[:3], 3, 23) == (rows[0], rows[1], rows[2])
    assert find_exact(rows[:2], 3, 12) is None


def test_exact_sets_among_many_rows() -> None:
    """One or two rows are found however many candidates there are; three only among 60."""
    many = [txn(i, 100 * i) for i in range(1, 81)]
    assert find_exact(many, 1, 7_700) == (many[76],)
    assert find_exact(many, 2, 100 + 7_900) == (many[0], many[78])
    assert find_exact(many, 3, 100 + 200 + 8_000) is None
    sixty = many[:60]
    assert find_exact(sixty, 3, 100 + 200 + 6_000) == (many[0], many[1], many[59])
    sixty_one = many[:61]
    assert find_exact(sixty_one, 3, 100 + 200 + 6_000) is None


def test_of_two_pairs_the_first_in_journal_order_explains() -> None:
    """Rows 1..4 of 5, 6, 7, 6: both 1 + 3 and 2 + 4 add up to 12; (1, 3) comes first."""
    rows = [txn(i, a) for i, a in enumerate([5, 6, 7, 6], start=1)]
    assert find_exact(rows, 2, 12) == (rows[0], rows[2])
