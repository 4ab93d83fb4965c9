"""The replay memory: which answered requests stay in memory, and reading the rest.

Every request answered within the idempotency window is remembered (docs/protocol.md §4,
"Idempotency"), but only the newest `switch.replay_memory` of them stay in `State.txns`
(docs/switch.md, "Memory"). A count, not an age: it bounds memory whatever the traffic, and
DE7 is the terminal's clock (no year, any value a terminal sends), so an age would let one
terminal keep memory growing. The oldest committed record leaves first, with its tombstone;
a record still uncommitted never leaves, so the journal holds whatever memory does not.

Once a record of the window has left memory (`State.forgetting`), a key missing from memory
is not new by that alone: `needs` names it (`Needs.recall`, `recall_original`) and the
shell's fetch reads the journal's record by an index on (DE7, DE41, DE11). The decision then
reads it through `recall`/`tombstone` here, exactly as if it had stayed in memory.
"""

from __future__ import annotations

from switch.core.codes import RC, Kind
from switch.core.facts import Facts
from switch.core.model import Remembered, TxnKey
from switch.core.state import State


def recall(state: State, facts: Facts, key: TxnKey) -> Remembered | None:
    """The record of the request `key` within the idempotency window, from memory or, when
    it left memory, from the journal (None: no such request)."""
    value = state.txns.get(key)
    if value is not None:
        return Remembered.unpack(value)
    if not state.forgetting():
        return None
    record = facts.record(key)
    if record is not None and not record.reversed and _reversed_in_flight(state, record):
        record = record.reversed_now()
    return record


def tombstone(state: State, facts: Facts, key: TxnKey) -> int | None:
    """The journal id of the reversal that named `key` before it arrived (None: none)."""
    found = state.tombstones.get(key)
    if found is not None or not state.forgetting_tombstones():
        return found
    return facts.tombstone(key)


def _reversed_in_flight(state: State, record: Remembered) -> bool:
    """An approved reversal that undid the original and is not committed yet: the journal's
    record cannot say so."""
    journal_id = record.journal_id
    return any(e.original_id == journal_id and e.kind == Kind.REVERSAL
               and e.response_code == RC.APPROVED and e.detail.get("undone")
               for e in state.naming.values())


def remember(state: State, key: TxnKey, record: Remembered) -> None:
    """`key` answered: the newest record in memory."""
    state.txns[key] = record.packed()
    state.txn_order.append(key)


def mark_reversed(state: State, key: TxnKey, record: Remembered) -> None:
    """The original of an approved reversal, when it is still in memory (else the journal's
    reversal row says it)."""
    if key in state.txns:
        state.txns[key] = record.packed()


def add_tombstone(state: State, key: TxnKey, journal_id: int) -> None:
    state.tombstones[key] = journal_id
    state.tomb_order.append((key, journal_id))


def forget_over_bound(state: State) -> int:
    """Drop the oldest committed records (and their tombstones) while memory holds more than
    `switch.replay_memory`; returns how many left memory."""
    bound = state.config.switch.replay_memory
    txns, order = state.txns, state.txn_order
    gone = 0
    while len(txns) > bound and order:
        record = Remembered.unpack(txns[order[0]])
        if record.journal_id > state.durable_upto:
            break  # not in the journal yet: it stays until committed (`journaled`)
        del txns[order.popleft()]
        state.forgot_day = record.day
        gone += 1
    if gone and drop_tombstones(state):
        state.forgot_tombstone_day = state.forgot_day
    return gone


def forget_before(state: State, day_ordinal: int) -> int:
    """Drop the records of business days before `day_ordinal` (the idempotency window);
    returns how many."""
    txns, order = state.txns, state.txn_order
    gone = 0
    while order and Remembered.day_of(txns[order[0]]) < day_ordinal:
        del txns[order.popleft()]
        gone += 1
    drop_tombstones(state)
    return gone


def drop_tombstones(state: State) -> int:
    """Drop the tombstones whose reversal is no longer in memory (journal ids grow with time:
    older than every record kept); returns how many."""
    order = state.txn_order
    oldest = Remembered.unpack(state.txns[order[0]]).journal_id if order \
        else state.next_journal_id
    tombs, tomb_order = state.tombstones, state.tomb_order
    gone = 0
    while tomb_order and tomb_order[0][1] < oldest:
        key, journal_id = tomb_order.popleft()
        if tombs.get(key) == journal_id:
            del tombs[key]
            gone += 1
    return gone
