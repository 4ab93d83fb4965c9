"""Redemptions (docs/protocol.md §4 `900000`): one of nothing is `13`, and a first-use card's
enrolment stays (docs/switch.md "Decisions", Card) in memory as in the journal; one past the
batch's amount is `61`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from switch.core import DEFAULT_LIMITS
from tests.money.support import Shell, rc
from tests.switch.support import NOW, T1, burn, card, earn

A = card(811)


@pytest.mark.parametrize("tags, amount", [({"RP": "0"}, 10_000), ({"RP": "00"}, 1)])
def test_a_redemption_of_no_points_is_13_and_keeps_a_first_use_enrolment(
        sh: Shell, tags: dict[str, str] | None, amount: int) -> None:
    assert rc(sh.send(burn(T1, sh.next_stan(), A, amount, tags=tags))) == "13"
    assert sh.sql("SELECT pan FROM cards WHERE pan = ?", (A,)) == [(A,)]
    assert sh.sql("SELECT count(*) FROM lot_moves") == [(0,)]
    sh.restart(NOW)  # compares the recovered state with the live one


def test_a_redemption_past_the_batchs_amount_is_61_and_burns_nothing(tmp_path: Path) -> None:
    """docs/protocol.md §10: a redemption that would take the batch's debits past DE88's limit
    is declined `61`, its points kept, the batch not counted."""
    limits = dataclasses.replace(DEFAULT_LIMITS, max_batch_amount=150_000)
    sh = Shell(tmp_path / "lps.db", limits=limits)
    try:
        assert rc(sh.send(earn(T1, sh.next_stan(), A, 100_000))) == "00"
        before = sh.journal_points(A)
        assert before > 0
        resp = sh.send(burn(T1, sh.next_stan(), A, 150_001, tags={"RP": "1"}))
        assert rc(resp) == "61"
        assert sh.journal_points(A) == before
        assert rc(sh.send(burn(T1, sh.next_stan(), A, 150_000, tags={"RP": "1"}))) == "00"
        sh.restart(NOW)
    finally:
        sh.close()
