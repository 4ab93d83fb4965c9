"""A redemption of nothing (docs/protocol.md §4 `900000`): `13`, and a first-use card's
enrolment stays (docs/switch.md "Decisions", Card) in memory as in the journal."""

from __future__ import annotations

import pytest

from tests.money.support import Shell, rc
from tests.switch.support import NOW, T1, burn, card

A = card(811)


@pytest.mark.parametrize("tags, amount", [({"RP": "0"}, 10_000), ({"RP": "00"}, 1)])
def test_a_redemption_of_no_points_is_13_and_keeps_a_first_use_enrolment(
        sh: Shell, tags: dict[str, str] | None, amount: int) -> None:
    assert rc(sh.send(burn(T1, sh.next_stan(), A, amount, tags=tags))) == "13"
    assert sh.sql("SELECT pan FROM cards WHERE pan = ?", (A,)) == [(A,)]
    assert sh.sql("SELECT count(*) FROM lot_moves") == [(0,)]
    sh.restart(NOW)  # compares the recovered state with the live one
