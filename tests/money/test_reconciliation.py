"""Reconciliation of a terminal batch: which journal rows explain a difference.

docs/protocol.md §4 (0500 totals) and docs/settlement.md ("Reconciliation"): for a batch out
of balance the switch's side is recomputed from the journal and, for each differing pair of
fields, the transactions that explain it are searched; without an exact set the candidates
are listed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.money.support import Shell, rc, rrn, scratch_dir
from tests.rewards.support import issue, redeem_coupon, terms
from tests.switch.support import NOW, T1, T3, batch_close, burn, card, earn
from tests.switch.support import reversal as reversal_of

PAN = card(701)
BATCH = "000007"


@pytest.fixture
def db() -> Iterator[Path]:
    with scratch_dir() as path:
        yield path / "lps.db"


def test_same_count_lower_amount_lists_the_switchs_rows(db: Path) -> None:
    """The terminal reports as many earns as the switch counted but a lower amount (one was
    keyed short). No set of zero rows explains it, so the line lists the switch's counted
    credits, those that can explain it, and not the declined earn the switch did not count."""
    sh = Shell(db)
    counted = [sh.send(earn(T1, sh.next_stan(), PAN, amount, batch=BATCH))
               for amount in (100_000, 50_000)]
    declined = sh.send(earn(T1, sh.next_stan(), PAN, 30_000, batch=BATCH, extra={14: "2001"}))
    assert [rc(r) for r in counted] == ["00", "00"] and rc(declined) == "54"
    close = sh.send(batch_close(T1, sh.next_stan(), BATCH, {74: 2, 86: 140_000}))
    assert rc(close) == "95"

    lines = [line for line in sh.settle(NOW.date()).reconciliation if line.batch == BATCH]
    assert [(line.category, line.terminal_count, line.switch_count, line.terminal_amount,
             line.switch_amount) for line in lines] == [("credits", 2, 2, 140_000, 150_000)]
    assert [r.id for r in lines[0].explained_by] == [int(rrn(r)) for r in counted]
    sh.close()


def test_a_reversal_the_terminal_missed_is_named(db: Path) -> None:
    """The switch counted a redemption and its reversal (DE77/DE89); the terminal reports the
    redemption only: the line for the debit reversals names that redemption."""
    sh = Shell(db)
    sh.send(earn(T1, sh.next_stan(), PAN, 100_000, batch=BATCH))
    spends = [burn(T3, sh.next_stan(), PAN, amount, tags={"RP": "1"}, batch=BATCH)
              for amount in (3_000, 5_000)]
    answers = [sh.send(m) for m in spends]
    assert rc(sh.send(reversal_of(spends[1], sh.next_stan()))) == "00"
    totals = {74: 0, 76: 2, 88: 8_000}
    assert rc(sh.send(batch_close(T3, sh.next_stan(), BATCH, totals))) == "95"
    lines = [line for line in sh.settle(NOW.date()).reconciliation
             if (line.terminal_id, line.batch) == (T3, BATCH)]
    assert [(line.category, line.terminal_count, line.switch_count, line.terminal_amount,
             line.switch_amount) for line in lines] == [("debit_reversals", 0, 1, 0, 5_000)]
    assert [r.id for r in lines[0].explained_by] == [int(rrn(answers[1]))]
    sh.close()


def test_a_coupon_redemption_is_a_debit_of_the_switchs_side(db: Path) -> None:
    """docs/protocol.md §4: a coupon redemption counts in the 0500 totals as a `900000` debit
    of DE4. A terminal that left it out is out of balance by that row, and the journal's side,
    recomputed from the rows, agrees with the totals the switch recorded at the close."""
    sh = Shell(db)
    [code] = issue(sh.store, terms(amount=20_000))
    used = sh.send(redeem_coupon(T1, sh.next_stan(), PAN, code, 70_000, batch=BATCH))
    assert rc(used) == "00"
    assert rc(sh.send(batch_close(T1, sh.next_stan(), BATCH, {}))) == "95"
    lines = [line for line in sh.settle(NOW.date()).reconciliation if line.batch == BATCH]
    assert [(line.category, line.terminal_count, line.switch_count, line.terminal_amount,
             line.switch_amount, line.note) for line in lines] == [
        ("debits", 0, 1, 0, 70_000, "counted by the switch, not by the terminal")]
    assert [r.id for r in lines[0].explained_by] == [int(rrn(used))]
    sh.close()
