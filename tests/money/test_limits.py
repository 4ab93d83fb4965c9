"""Limits (docs/protocol.md §10): no balance past what DE54 shows, no batch past DE74-89.

The limits are data (`MoneyLimits`); these tests lower them so that the edges are reached
with ordinary amounts. A request that would pass a limit is declined `61`, nothing is
credited, debited or counted, and the decline is remembered like any other answer. Every
figure is worked by hand from the example configuration: STORE1 earns 1 point per 10,000,
a point is worth 1,000.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from iso8583 import Message
from switch.core import MoneyLimits
from tests.money.support import Shell, points_balance, rc, rrn, scratch_dir, tags
from tests.switch.support import NOW, T1, T2, batch_close, burn, card, earn, inquiry, request
from tests.switch.support import reversal as reversal_of

A = card(701)


@pytest.fixture
def db() -> Iterator[Path]:
    with scratch_dir() as path:
        yield path / "lps.db"


def spend(sh: Shell, tid: str, points: int) -> tuple[Message, Message]:
    msg = burn(tid, sh.next_stan(), A, points * 1_000, tags={"RP": str(points)})
    return msg, sh.send(msg)


def balance(sh: Shell) -> int:
    resp = sh.send(inquiry(T1, sh.next_stan(), A))
    assert rc(resp) == "00"
    return points_balance(resp)


def test_a_cards_positive_lots_are_bounded_whatever_its_debt(db: Path) -> None:
    """§10, points per card: the positive lots may hold at most the limit and the debts at
    most minus it, each on its own (not their net): with a limit of 100 and a debt of 10,
    the card takes 100 points (available 90) and not one more."""
    sh = Shell(db, limits=MoneyLimits(max_points=100))
    first = sh.send(earn(T1, sh.next_stan(), A, 100_000))           # 10 points
    assert rc(spend(sh, T2, 10)[1]) == "00"
    back = sh.send(request("0200", T1, sh.next_stan(), pan=A, pc="200000", amount=100_000,
                           tags={"OR": rrn(first)}))
    assert (rc(back), points_balance(back)) == ("00", -10)          # a debt of 10
    full = sh.send(earn(T1, sh.next_stan(), A, 1_000_000))          # 100 points: at the limit
    assert (rc(full), tags(full)["EP"], points_balance(full)) == ("00", "100", 90)
    over = earn(T1, sh.next_stan(), A, 10_000)                      # 1 point more: 101
    refused = sh.send(over)
    assert rc(refused) == "61" and sh.moves(rrn(refused)) == []
    assert sh.send(over).fields == refused.fields                   # remembered
    assert balance(sh) == 90 and sh.journal_points(A) == 90
    sh.close()


def test_a_card_beyond_a_lowered_limit_may_move_back_towards_it(db: Path) -> None:
    """§10: a card already beyond a limit (the limits were lowered) may still move back
    towards it, and not further away: 100 points under a limit of 50 can be spent, not
    added to."""
    sh = Shell(db)
    assert tags(sh.send(earn(T1, sh.next_stan(), A, 1_000_000)))["EP"] == "100"
    sh.restart(NOW, limits=MoneyLimits(max_points=50))
    _, spent = spend(sh, T2, 10)
    assert (rc(spent), points_balance(spent)) == ("00", 90)
    refused = sh.send(earn(T1, sh.next_stan(), A, 10_000))
    assert rc(refused) == "61" and sh.moves(rrn(refused)) == []
    _, spent = spend(sh, T2, 40)
    assert (rc(spent), points_balance(spent)) == ("00", 50)
    assert rc(sh.send(earn(T1, sh.next_stan(), A, 10_000))) == "61"
    assert balance(sh) == 50
    sh.close()


def test_a_batch_is_counted_up_to_its_limits_and_not_beyond(db: Path) -> None:
    """§10, batch counts and amounts: an earn that would take its terminal batch past either
    is `61`, credits no points and is not counted; exactly at the limit is approved. The
    0500 (§4) then balances with what was counted."""
    sh = Shell(db, limits=MoneyLimits(max_batch_count=3, max_batch_amount=150_000))
    assert rc(sh.send(earn(T1, sh.next_stan(), A, 100_000))) == "00"
    assert rc(sh.send(earn(T1, sh.next_stan(), A, 50_000))) == "00"   # amount 150,000
    over_amount = sh.send(earn(T1, sh.next_stan(), A, 10_000))
    assert rc(over_amount) == "61" and sh.moves(rrn(over_amount)) == []
    sh.restart(NOW, limits=MoneyLimits(max_batch_count=2))             # read back: 2 counted
    over_count = sh.send(earn(T1, sh.next_stan(), A, 10_000))
    assert rc(over_count) == "61" and sh.moves(rrn(over_count)) == []
    assert balance(sh) == 15
    close = sh.send(batch_close(T1, sh.next_stan(), "000001", {74: 2, 86: 150_000}))
    assert rc(close) == "00"
    sh.close()


def test_a_reversal_that_would_pass_a_limit_is_declined_and_can_come_later(db: Path) -> None:
    """§10: a reversal that would take a card beyond a limit is `61` too, changes nothing and
    is not counted; the original stays reversible once the balance allows it (a reversal
    with its own STAN, §4)."""
    sh = Shell(db, limits=MoneyLimits(max_points=100))
    sh.send(earn(T1, sh.next_stan(), A, 1_000_000))                  # 100
    burn_msg, spent = spend(sh, T1, 30)                               # 70
    assert rc(spent) == "00"
    assert tags(sh.send(earn(T1, sh.next_stan(), A, 300_000)))["EP"] == "30"   # 100 again
    early = sh.send(reversal_of(burn_msg, sh.next_stan()))            # would be 130
    assert rc(early) == "61" and sh.moves(rrn(early)) == []
    assert balance(sh) == 100
    assert rc(spend(sh, T1, 30)[1]) == "00"                           # 70
    later = sh.send(reversal_of(burn_msg, sh.next_stan()))
    assert (rc(later), points_balance(later)) == ("00", 100)
    # Credits: 2 earns, DE4 1,000,000 + 300,000; debits: 2 redemptions of 30,000, one of them
    # reversed (the declined reversal is not counted).
    close = sh.send(batch_close(T1, sh.next_stan(), "000001",
                                {74: 2, 86: 1_300_000, 76: 2, 88: 60_000, 77: 1, 89: 30_000}))
    assert rc(close) == "00"
    sh.close()


def test_a_reversal_past_the_batchs_amount_is_declined_and_undoes_nothing(db: Path) -> None:
    """§10, batch amounts: a reversal counts in its original's batch (§4); one that would take
    the batch's reversal amount past the limit (lowered since the original) is `61`, undoes
    nothing and is not counted, while a smaller one is approved."""
    sh = Shell(db)
    big = earn(T1, sh.next_stan(), A, 60_000)                       # 6 points
    small = earn(T1, sh.next_stan(), A, 40_000)                     # 4 points
    assert rc(sh.send(big)) == rc(sh.send(small)) == "00"
    sh.restart(NOW, limits=MoneyLimits(max_batch_amount=50_000))
    refused = sh.send(reversal_of(big, sh.next_stan()))
    assert rc(refused) == "61" and sh.moves(rrn(refused)) == []
    assert balance(sh) == 10
    undone = sh.send(reversal_of(small, sh.next_stan()))
    assert (rc(undone), points_balance(undone)) == ("00", 6)
    sh.restart(NOW, limits=MoneyLimits())
    close = sh.send(batch_close(T1, sh.next_stan(), "000001",
                                {74: 2, 86: 100_000, 75: 1, 87: 40_000}))
    assert rc(close) == "00"
    sh.close()
