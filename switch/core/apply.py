"""`apply(state, decision)`: the one function that changes the state.

It installs what `decide` computed and nothing else, so it cannot fail on a decision decided
on this very state. It first checks that (journal and lot ids follow on, balances add up to the
entry, no lot below what the rules allow, limits not passed further, a remembered key is new)
with explicit `raise AssertionError(...)`, kept in production: a failed check means a bug, and
it raises before anything is changed. The shell then stops (fail-stop) and recovery rebuilds the
state from the journal, which never saw the decision.

When: right after the decision and its encoded reply exist, before the next request is decided
(the next one must see it: two burns of one card in one batch), and before the entry is
committed; the reply leaves only after the commit (docs/switch.md, "Durability and recovery").
"""

from __future__ import annotations

from operator import add

from switch.core import replay
from switch.core.catalog import Catalog
from switch.core.codes import Kind
from switch.core.entries import Entry
from switch.core.ledger import passes, sums
from switch.core.model import POINTS, STORED_VALUE, Card, Lot
from switch.core.outcome import Changes, Decision
from switch.core.state import State

#: Entry kinds whose moves may take a lot below zero: a reversal of a spent earn and a return
#: clawing back more than is left leave a debt (docs/switch.md, "Decisions").
_MAY_OWE = frozenset({Kind.REVERSAL, Kind.RETURN})


def apply(state: State, decision: Decision) -> None:
    ch = decision.changes
    if ch is None:
        if decision.entries:
            raise AssertionError("a decision with an entry but no changes")
        return
    entry = decision.entries[0] if decision.entries else None
    _check(state, ch, entry, decision)
    if ch.card is not None:
        _install_card(state, ch)
    if ch.account is not None:
        link = ch.account
        state.pending_mobiles[link.key] = link.pan
        state.virtual_next[link.coalition] = max(state.virtual_next.get(link.coalition, 1),
                                                 link.serial + 1)
    if ch.terminal is not None:
        term = state.terminals[ch.terminal.id]
        after = ch.terminal
        term.signed_on = after.signed_on
        term.mac_key_ref, term.pin_key_ref = after.mac_key_ref, after.pin_key_ref
        term.tmk_ref, term.bdk_ref = after.tmk_ref, after.bdk_ref
    if ch.reversed is not None:
        replay.mark_reversed(state, *ch.reversed)
    if ch.tombstone is not None and ch.journal_id is not None:
        replay.add_tombstone(state, ch.tombstone, ch.journal_id)
    if ch.remember is not None:
        replay.remember(state, *ch.remember)
        replay.forget_over_bound(state)
    if ch.totals is not None:
        state.totals[ch.totals[0]] = ch.totals[1]
    if ch.programs is not None:
        state.config, state.rules = ch.programs.config, ch.programs.rules
        state.program_version = ch.programs.version
    if ch.lots_upto is not None:
        state.next_lot_id = ch.lots_upto
    if ch.journal_id is not None and entry is not None:
        state.next_journal_id = ch.journal_id + 1
        state.uncommitted[ch.journal_id] = entry
        if entry.original_id is not None:
            state.naming[ch.journal_id] = entry


def _install_card(state: State, ch: Changes) -> None:
    after = ch.card
    assert after is not None
    if ch.new_card:
        state.cards[after.pan] = after
        return
    card = state.cards[after.pan]
    card.status = after.status
    card.lots = after.lots
    card.purse = after.purse
    card.pin_ref = after.pin_ref
    card.pin_tries = after.pin_tries
    card.club = after.club


def _check(state: State, ch: Changes, entry: Entry | None, decision: Decision) -> None:
    if ch.journal_id is not None:
        if ch.journal_id != state.next_journal_id:
            raise AssertionError(f"journal id {ch.journal_id} does not follow "
                                 f"{state.next_journal_id - 1}")
        if entry is None or entry.id != ch.journal_id or len(decision.entries) != 1:
            raise AssertionError(f"decision #{ch.journal_id} does not carry its one entry")
    elif decision.entries:
        raise AssertionError("an entry without a journal id")
    made = [n.id for n in entry.new_lots] if entry is not None else []
    if ch.lots_upto is None:
        if made:
            raise AssertionError("new lots without new lot ids")
    elif made != list(range(state.next_lot_id, ch.lots_upto)):
        raise AssertionError(f"lot ids {made} do not follow {state.next_lot_id - 1}")
    if ch.card is not None:
        _check_card(state, ch, entry)
    elif entry is not None and (entry.points or entry.sv or entry.lot_deltas):
        raise AssertionError(f"entry #{entry.id} moves lots but changes no card")
    if ch.account is not None:
        link = ch.account
        if not (ch.new_card and ch.card is not None and ch.card.pan == link.pan
                and ch.card.virtual) or link.key in state.pending_mobiles:
            raise AssertionError("a mobile account's card is not the virtual card this "
                                 "decision enrolls")
    if ch.terminal is not None and ch.terminal.id not in state.terminals:
        raise AssertionError(f"unknown terminal {ch.terminal.id!r}")
    if ch.remember is not None and ch.remember[0] in state.txns:
        raise AssertionError(f"request {ch.remember[0]} is remembered already")
    if ch.reversed is not None:
        key, record = ch.reversed
        known = state.remembered(key)
        # None: it left memory since it was decided (a commit while the reply's MAC was
        # awaited); the journal's reversal row says it is reversed (switch/core/replay.py).
        if known is not None and (known.journal_id != record.journal_id or known.reversed):
            raise AssertionError(f"#{record.journal_id} is not a remembered, unreversed original")
    if ch.programs is not None:
        _check_programs(state, ch.programs.config, ch.programs.version)
    if ch.totals is not None:
        _check_totals(state, ch, entry)


def _check_totals(state: State, ch: Changes, entry: Entry | None) -> None:
    """A batch's totals move by exactly what the entry counts, none below zero, and none that
    grows ends beyond its limit: one already beyond (the limits were lowered) may stay there
    while the others grow (docs/protocol.md §10). The move is checked against the cache's
    totals; a batch the cache does not hold was read from the journal (`Facts`), which
    `apply` does not see."""
    assert ch.totals is not None
    key, after = ch.totals
    counted = entry.totals if entry is not None else None
    if counted is None or (counted.terminal_id, counted.batch) != key:
        raise AssertionError(f"batch totals {key} change without an entry counting in them")
    delta = counted.as_tuple()
    values = after.as_tuple()
    before = state.totals.get(key)
    # Both are `Totals.as_tuple()`: eight values each.
    if before is not None and values != tuple(map(add, before.as_tuple(), delta)):
        raise AssertionError(f"batch totals {key} go from {before.as_tuple()} to {values}, "
                             f"their entry counts {delta}")
    limits = state.limits
    # Counts and amounts alternate (Totals.as_tuple). Each pair is looked at only when some
    # total is negative or beyond its limit: the rare case, where the pair decides.
    if min(values) >= 0 and min(delta) >= 0 and max(values[0::2]) <= limits.max_batch_count \
            and max(values[1::2]) <= limits.max_batch_amount:
        return
    for i, (value, grew) in enumerate(zip(values, delta, strict=True)):
        bound = limits.max_batch_amount if i % 2 else limits.max_batch_count
        if value < 0 or grew < 0 or (grew and value > bound):
            raise AssertionError(f"batch totals {key} out of bounds: {values}")


def _check_card(state: State, ch: Changes, entry: Entry | None) -> None:
    after = ch.card
    assert after is not None
    before = state.cards.get(after.pan)
    if ch.new_card:
        if before is not None:
            raise AssertionError("the card is enrolled already")
        before = Card(after.pan, after.coalition)
    elif before is None:
        raise AssertionError("the card is not enrolled")
    limits = state.limits
    moved = (entry.points, entry.sv) if entry is not None else (0, 0)
    for was, now, kind, bound, delta in (
            (before.lots, after.lots, POINTS, limits.max_points, moved[0]),
            (before.purse, after.purse, STORED_VALUE, limits.max_stored_value, moved[1])):
        if now is was:
            if delta:
                raise AssertionError(f"the card's {kind} lots are unchanged, its entry moves "
                                     f"{delta}")
            continue
        p0, n0 = sums(was)
        p1, n1 = _checked_sums(now, after.pan, kind)
        if (p1 + n1) - (p0 + n0) != delta:
            raise AssertionError(f"the card's {kind} change by {(p1 + n1) - (p0 + n0)}, its "
                                 f"entry says {delta}")
        if passes((p0, n0), (p1, n1), bound):
            raise AssertionError(f"the card's {kind} pass their limit")
    if entry is not None and entry.kind not in _MAY_OWE:
        for move in entry.lot_deltas:
            if move.delta < 0 and move.lot.remaining < 0:
                raise AssertionError(f"lot {move.lot_id} taken below zero by a {entry.kind}")


def _check_programs(state: State, config: Catalog, version: int) -> None:
    """New programs change programs only: the stores, terminals and switch settings stay."""
    if version != state.program_version + 1:
        raise AssertionError(f"program version {version} does not follow "
                             f"{state.program_version}")
    old = state.config
    if config.switch != old.switch or set(config.stores) != set(old.stores) \
            or set(config.terminals) != set(old.terminals) \
            or set(config.coalitions) != set(old.coalitions):
        raise AssertionError("new programs would change more than the programs")


def _checked_sums(lots: list[Lot], pan: str, kind: str) -> tuple[int, int]:
    """`sums(lots)`, each lot checked to be live and the card's, of this kind."""
    positive = negative = 0
    for lot in lots:
        r = lot.remaining
        if r > 0:
            positive += r
        elif r < 0:
            negative += r
        if r == 0 or lot.pan != pan or lot.kind != kind:
            raise AssertionError(f"lot {lot.id} does not belong in the card's {kind} lots "
                                 f"(remaining {r})")
    return positive, negative
