"""Redemptions (docs/protocol.md §4 `900000`): one of nothing is `13`, and a first-use card's
enrolment stays (docs/switch.md "Decisions", Card) in memory as in the journal; one past the
batch's amount is `61`, and its right PIN still ends a run of wrong ones (§6)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from switch.core import DEFAULT_LIMITS, Checks
from tests.money.support import Shell, rc
from tests.switch.support import NOW, T1, burn, card, earn

A = card(811)
PIN_BLOCK = {52: b"\x00" * 8}


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


def test_a_right_pin_on_a_redemption_past_the_batchs_amount_ends_a_run_of_wrong_ones(
        tmp_path: Path) -> None:
    """docs/protocol.md §6 and docs/security.md "PINs": `75` comes with the third wrong
    PIN *in a row*, and a right PIN resets the count even when the redemption is then declined
    `61` for the batch's amount (§10): two more wrong PINs are `55`, not `75`, in memory and
    after a restart."""
    limits = dataclasses.replace(DEFAULT_LIMITS, max_batch_amount=150_000)
    sh = Shell(tmp_path / "lps.db", limits=limits)
    try:
        assert rc(sh.send(earn(T1, sh.next_stan(), A, 100_000))) == "00"
        sh.operator({"cmd": "set-pin", "pan": A, "pin": "F" * 16})
        wrong, right = Checks(pin_ok=False), Checks(pin_ok=True)

        def redeem(amount: int, checks: Checks) -> str:
            msg = burn(T1, sh.next_stan(), A, amount, tags={"RP": "1"}, extra=PIN_BLOCK)
            return rc(sh.send(msg, checks=checks))

        assert redeem(1_000, wrong) == "55"
        before = sh.journal_points(A)
        assert redeem(150_001, right) == "61"
        assert sh.journal_points(A) == before
        assert sh.sql("SELECT tries FROM card_pins WHERE pan = ?", (A,)) == [(0,)]
        assert [redeem(1_000, wrong) for _ in range(2)] == ["55", "55"]
        sh.restart(NOW)
        assert redeem(1_000, wrong) == "75"  # the third in a row since the right PIN
        sh.restart(NOW)
        assert redeem(1_000, right) == "75"  # blocked until `lps pin reset`
    finally:
        sh.close()
