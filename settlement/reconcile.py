"""Reconciliation of terminal batches: the 0500 totals against what the switch journaled.

The switch's side is recomputed from the journal (approved earns are credits, approved
redemptions are debits, DE75/77/87/89 those of them reversed before the close), so a fault in
the switch's own running totals shows up too. For each difference the transactions that explain
it are searched for: a set of as many transactions as the count differs whose amounts add up to
the amount difference (counted by the switch but not the terminal, or the other way round);
when no such set exists the candidates are listed for a person to judge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from settlement.records import (
    ADVICE,
    EARN,
    PC_PURCHASE,
    REDEEM,
    REVERSAL,
    SPENDING_PCS,
    SV_PURCHASE,
    BatchClose,
    Row,
    Totals,
)
from switch.core.codes import Kind

#: (name, count field, amount field, DE numbers) of the four 0500 total pairs.
CATEGORIES = (
    ("credits", "credits", "credit_amount", "DE74/DE86"),
    ("credit_reversals", "credit_reversals", "credit_reversal_amount", "DE75/DE87"),
    ("debits", "debits", "debit_amount", "DE76/DE88"),
    ("debit_reversals", "debit_reversals", "debit_reversal_amount", "DE77/DE89"),
)
MAX_LISTED = 50
EXACT_SEARCH_LIMIT = 3
#: The kinds of the 0500 debits (docs/protocol.md §4): redemptions, coupon redemptions
#: included, and purse purchases.
DEBIT_KINDS = (REDEEM, Kind.COUPON, SV_PURCHASE)


@dataclass(frozen=True, slots=True)
class ReconLine:
    terminal_id: str
    store_id: str
    batch: str
    close_id: int
    switch_answer: str
    category: str
    fields: str
    terminal_count: int
    switch_count: int
    terminal_amount: int
    switch_amount: int
    explained_by: tuple[Row, ...]
    note: str

    @property
    def balanced(self) -> bool:
        return self.category == "all"


def _is_credit(r: Row) -> bool:
    return r.kind in (EARN, ADVICE) and r.pc == PC_PURCHASE


def _is_debit(r: Row) -> bool:
    return r.kind in DEBIT_KINDS and r.pc in SPENDING_PCS


def switch_side(close: BatchClose) -> tuple[Totals, dict[str, list[Row]], dict[str, list[Row]]]:
    """The switch's totals for a batch, the rows behind each category and the candidates
    (rows the switch did not count but a terminal might have)."""
    reversed_ids = {
        r.original_id for r in close.rows
        if r.kind == REVERSAL and r.approved and r.original_id is not None and r.id < close.id
    }
    txns = [r for r in close.rows if r.kind != REVERSAL and r.id < close.id]
    credits = [r for r in txns if _is_credit(r) and r.approved]
    debits = [r for r in txns if _is_debit(r) and r.approved]
    counted = {
        "credits": credits,
        "credit_reversals": [r for r in credits if r.id in reversed_ids],
        "debits": debits,
        "debit_reversals": [r for r in debits if r.id in reversed_ids],
    }
    candidates = {
        "credits": [r for r in txns if _is_credit(r) and not r.approved],
        "credit_reversals": [r for r in credits if r.id not in reversed_ids],
        "debits": [r for r in txns if _is_debit(r) and not r.approved],
        "debit_reversals": [r for r in debits if r.id not in reversed_ids],
    }

    def tot(name: str) -> tuple[int, int]:
        rows = counted[name]
        return len(rows), sum(r.amount for r in rows)

    (c, ca), (cr, cra), (d, da), (dr, dra) = (tot(n) for n, *_ in CATEGORIES)
    return Totals(credits=c, credit_amount=ca, credit_reversals=cr, credit_reversal_amount=cra,
                  debits=d, debit_amount=da, debit_reversals=dr, debit_reversal_amount=dra
                  ), counted, candidates


def find_exact(rows: Sequence[Row], count: int, amount: int) -> tuple[Row, ...] | None:
    """The first (by journal order) set of `count` rows whose amounts sum to `amount`."""
    if count <= 0 or count > min(EXACT_SEARCH_LIMIT, len(rows)):
        return None
    ordered = sorted(rows, key=lambda r: r.id)
    if count == 1:
        return next(((r,) for r in ordered if r.amount == amount), None)
    if count == 2:
        best: tuple[Row, ...] | None = None
        seen: dict[int, Row] = {}
        for r in ordered:
            other = seen.get(amount - r.amount)
            if other is not None and (best is None or (other.id, r.id) < (best[0].id, best[1].id)):
                best = (other, r)
            seen.setdefault(r.amount, r)
        return best
    if len(ordered) > 60:
        return None
    return next((c for c in combinations(ordered, count) if sum(r.amount for r in c) == amount),
                None)


def reconcile(close: BatchClose) -> list[ReconLine]:
    """One line if the batch is in balance, else one line per differing category.

    The switch's side is what the journal adds up to when the batch's rows are given (a reader
    fetches them for a batch out of balance), else the totals the switch recorded at the close.
    A switch whose recorded totals disagree with its own journal is named in the note.
    """
    mine, counted, candidates = switch_side(close)
    warning = ""
    if close.switch is not None:
        if not close.rows:
            mine = close.switch
        elif close.switch != mine:
            warning = "the switch's recorded totals differ from its journal's; "
    theirs = close.terminal
    base = (close.terminal_id, close.store_id, close.batch, close.id, close.response_code)
    lines = []
    for name, count_f, amount_f, des in CATEGORIES:
        tc, sc = getattr(theirs, count_f), getattr(mine, count_f)
        ta, sa = getattr(theirs, amount_f), getattr(mine, amount_f)
        if (tc, ta) == (sc, sa):
            continue
        dc, da = tc - sc, ta - sa
        if dc < 0 or (dc == 0 and da < 0):
            exact = find_exact(counted[name], -dc, -da)
            side = "counted by the switch, not by the terminal"
            pool = counted[name]
        else:
            exact = find_exact(candidates[name], dc, da)
            side = "counted by the terminal, not by the switch"
            pool = candidates[name]
        if exact is not None:
            rows, note = exact, side
        elif pool:
            rows = tuple(sorted(pool, key=lambda r: r.id)[:MAX_LISTED])
            more = f" (first {MAX_LISTED} of {len(pool)})" if len(pool) > MAX_LISTED else ""
            note = f"no exact match; candidates{more}"
        else:
            rows, note = (), "no transaction in the journal explains it"
        lines.append(ReconLine(*base, name, des, tc, sc, ta, sa, rows, warning + note))
    if not lines:
        total = mine.credits + mine.debits
        amount = mine.credit_amount + mine.debit_amount
        note = f"{warning}in balance against the journal" if warning else "in balance"
        lines.append(ReconLine(*base, "all", "DE74-77/DE86-89", total, total, amount, amount, (),
                               note))
    return lines
