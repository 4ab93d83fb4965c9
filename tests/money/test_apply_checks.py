"""`apply` refuses a decision that does not fit the state it was decided on.

docs/switch.md, "The request path", step 6: before installing anything `apply` checks that
journal and lot ids follow on, that each changed card's balances move by exactly what its
entry says, that no lot goes below zero except by a reversal or a return, that no limit is
passed further and that a remembered key is new; a failed check raises `AssertionError` (the
switch stops) and changes nothing. Each test takes a decision the core made and breaks one of
those facts, as a bug in an operation would.
"""

from __future__ import annotations

import dataclasses

import pytest

from switch.core import (
    Decision,
    Kind,
    MoneyLimits,
    State,
    apply,
    handle,
    new_state,
    snapshot,
)
from switch.core.entries import LotDelta
from tests.switch.support import NOW, T1, T3, burn, card, decided, earn, example_config, sign_on

PAN = card(801)



def two_lots() -> State:
    """A card with 10 points of STORE1 (lot 1) and 10 of STORE3 (lot 2)."""
    state = new_state(example_config())
    for tid in (T1, T3):
        handle(state, sign_on(tid), NOW)
    assert handle(state, earn(T1, 1, PAN, 100_000), NOW).response is not None
    assert handle(state, earn(T3, 2, PAN, 200_000), NOW).response is not None
    assert sorted((lot.id, lot.remaining) for lot in state.cards[PAN].lots) == \
        [(1, 10), (2, 10)]
    return state


def everything(state: State) -> tuple[object, ...]:
    return snapshot(state), tuple(state.uncommitted), state.durable_upto


def refused(state: State, decision: Decision, why: str) -> None:
    before = everything(state)
    with pytest.raises(AssertionError, match=why):
        apply(state, decision)
    assert everything(state) == before


def overdrawn(state: State, kind: str) -> Decision:
    """A redemption of 5 decided on `state`, rewritten to take 15 from lot 2 (10 left) and
    nothing from lot 1: the balances still add up to the entry, lot 2 ends at -5."""
    d = decided(state, burn(T1, 3, PAN, 5_000, tags={"RP": "5"}))
    assert d.changes is not None and d.changes.card is not None
    entry = d.entries[0]
    lot1, lot2 = sorted(state.cards[PAN].lots, key=lambda lot: lot.id)
    owing = lot2.with_remaining(-5)
    entry.kind = kind
    entry.lot_deltas = [LotDelta(owing, -15)]
    entry.points = -15
    card_after = dataclasses.replace(d.changes.card, lots=[lot1, owing])
    d.changes = dataclasses.replace(d.changes, card=card_after)
    return d


def test_a_redemption_may_not_take_a_lot_below_zero() -> None:
    state = two_lots()
    refused(state, overdrawn(state, Kind.REDEEM), "below zero")


def test_a_return_may_leave_a_debt() -> None:
    """The same moves in a return are a debt the rules allow (docs/switch.md, Return)."""
    state = two_lots()
    apply(state, overdrawn(state, Kind.RETURN))
    assert sorted((lot.id, lot.remaining) for lot in state.cards[PAN].lots) == \
        [(1, 10), (2, -5)]


def test_a_change_the_entry_does_not_carry_is_refused() -> None:
    state = two_lots()
    d = decided(state, burn(T1, 3, PAN, 5_000, tags={"RP": "5"}))
    d.entries[0].points = -4
    refused(state, d, "its entry says -4")


def test_a_decision_passing_a_limit_further_is_refused() -> None:
    """Decided under the field-width limits, applied on a state whose limit is 25."""
    state = two_lots()
    d = decided(state, earn(T1, 3, PAN, 100_000))
    state.limits = MoneyLimits(max_points=25)
    refused(state, d, "pass their limit")


def test_new_lots_must_take_the_next_lot_ids() -> None:
    state = two_lots()
    d = decided(state, earn(T1, 3, PAN, 100_000))
    assert d.changes is not None and d.changes.lots_upto == 4
    d.changes = dataclasses.replace(d.changes, lots_upto=5)
    refused(state, d, "do not follow")


def test_a_request_is_remembered_once() -> None:
    state = two_lots()
    d = decided(state, burn(T1, 3, PAN, 5_000, tags={"RP": "5"}))
    assert d.changes is not None and d.changes.remember is not None
    first_earn = next(k for k in state.txns if k.startswith(f"{T1}|000001|"))
    d.changes = dataclasses.replace(d.changes,
                                    remember=(first_earn, d.changes.remember[1]))
    refused(state, d, "remembered already")
