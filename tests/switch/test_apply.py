"""`apply` installs only a decision decided on this very state, checked first with explicit
`raise AssertionError` (kept under `python -O`); a refused decision changes nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from switch.core import (
    State,
    apply,
    handle,
    new_state,
    snapshot,
)
from tests.switch.support import NOW, ROOT, T1, burn, card, decided, earn, example_config, sign_on
from tests.waits import START

PAN = card(81)



def signed() -> State:
    state = new_state(example_config())
    handle(state, sign_on(T1), NOW)
    handle(state, earn(T1, 1, PAN, 100_000), NOW)
    return state


def everything(state: State) -> tuple[object, ...]:
    return snapshot(state), tuple(state.uncommitted), state.durable_upto


def test_a_decision_is_applied_once() -> None:
    state = signed()
    d = decided(state, burn(T1, 2, PAN, 3_000))
    apply(state, d)
    before = everything(state)
    with pytest.raises(AssertionError, match="does not follow"):
        apply(state, d)
    assert everything(state) == before


def test_a_decision_made_on_another_state_is_refused() -> None:
    state = signed()
    first = decided(state, burn(T1, 2, PAN, 6_000))
    second = decided(state, burn(T1, 3, PAN, 6_000))  # both saw 10 points
    apply(state, first)
    before = everything(state)
    with pytest.raises(AssertionError):
        apply(state, second)
    assert everything(state) == before and state.cards[PAN].points == 4


def test_an_entry_that_does_not_add_up_is_refused() -> None:
    state = signed()
    d = decided(state, earn(T1, 2, PAN, 100_000))
    d.entries[0].points += 1
    before = everything(state)
    with pytest.raises(AssertionError, match="its entry says"):
        apply(state, d)
    assert everything(state) == before


def test_the_checks_stay_under_python_dash_o() -> None:
    script = (
        "from tests.switch.test_apply import signed, decided\n"
        "from tests.switch.support import burn, T1\n"
        "from switch.core import apply\n"
        "state = signed()\n"
        "d = decided(state, burn(T1, 2, signed.__globals__['PAN'], 3_000))\n"
        "apply(state, d)\n"
        "try:\n"
        "    apply(state, d)\n"
        "except AssertionError:\n"
        "    print('refused')\n"
    )
    out = subprocess.run([sys.executable, "-O", "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=START, check=True)
    assert out.stdout.strip() == "refused", out.stderr
