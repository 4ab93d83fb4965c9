"""`needs(state, request)`: exactly what the decision of one request will read besides the state.

The shell fetches that (journal rows from the store, verdicts from the HSM) into `Facts`, and
nothing else; `decide` asserts through `Facts` that it reads nothing more. What is still in
memory (`State.uncommitted`: decided, not yet committed) is read there and never asked for, so a
row is fetched only when it is committed, and a committed row is complete.

`in_memory(state, needs, checks)` answers needs without a journal, for a state that was never
journaled (`handle` in tests); a state recovered from a journal must be given the journal.
"""

from __future__ import annotations

from dataclasses import replace

from switch.core import coupon
from switch.core.accounts import account_need
from switch.core.birthday import birthday_need
from switch.core.codes import (
    KIND_RETURN,
    KIND_REVERSAL,
    PC,
    PC_EARN,
    PC_REDEEM,
    PC_RETURN,
    PIN_PCS,
    RC_APPROVED,
)
from switch.core.entries import Entry
from switch.core.facts import NOTHING, Checks, Facts, Needs, Returned, ReturnRow
from switch.core.protocol import MACED, REVERSALS
from switch.core.request import Request
from switch.core.security import pin_verifiable
from switch.core.segment import segment_need
from switch.core.state import State
from switch.core.text import is_digits

#: 0500 counts these processing codes (of 0200 and 0220): their batch's totals are read first.
_COUNTED_PCS = frozenset({PC.EARN, PC.REDEEM, PC.SV_PURCHASE})


def needs(state: State, req: Request) -> Needs:
    """The journal rows and HSM verdicts the decision of `req` on `state` reads."""
    if req.refusal is not None:
        return NOTHING
    if req.canonical == "0800":
        term = state.terminals.get(req.tid)
        if req.network_code == "101" and term is not None and term.tmk_ref is not None:
            return Needs(session_keys=True)
        return NOTHING
    fields = req.msg.fields
    mac = req.canonical in MACED and (64 in fields or 128 in fields)
    known = state.remembered(req.key)
    if known is not None:
        if known.digest == req.digest and known.journal_id not in state.uncommitted:
            return Needs(reply=known.journal_id, mac=mac)
        return Needs(mac=mac) if mac else NOTHING
    fresh = _as_new(state, req, mac)
    if not state.forgetting():
        return fresh
    # Not in memory, but older requests of the window are only in the journal: look it up
    # (and what a new request reads besides, used when the journal has no such request).
    return replace(fresh, recall=req.key, recall_since=state.remember_from,
                   recall_tombstone=req.canonical in ("0200", "0220")
                   and state.forgetting_tombstones())


def _as_new(state: State, req: Request, mac: bool) -> Needs:
    """What the decision of `req` reads when its key was never answered."""
    term = state.terminals.get(req.tid)
    if term is None or term.store != req.store_id:
        return Needs(mac=mac) if mac else NOTHING
    if req.canonical == "0500":
        return Needs(mac=mac, totals=_uncached(state, req.tid, req.batch))
    account = account_need(state, req, term.store)
    if req.canonical in REVERSALS:
        key = req.original_txn_key
        original = state.remembered(key)
        if original is None and state.forgetting():
            return Needs(mac=mac, recall_original=key, recall_since=state.remember_from,
                         account=account)
        if original is None or not original.reversible \
                or original.journal_id in state.uncommitted:
            return Needs(mac=mac, account=account) if mac or account else NOTHING
        # The original with, should it be an earn, the returns standing against it.
        return Needs(mac=mac, original=original.journal_id, earn=original.journal_id,
                     account=account)
    pin = (req.canonical == "0200" and req.pc in PIN_PCS
           and pin_verifiable(state.cards.get(req.pan), req))
    earn = None
    if req.pc == PC_RETURN:
        jid = earn_id(req)
        if jid is not None and jid not in state.uncommitted:
            earn = jid
    totals = _uncached(state, req.tid, req.batch) if req.pc in _COUNTED_PCS else None
    # A coupon is always read: its state may have changed in the journal since (moves still
    # in memory are replayed over it, switch/core/coupon.py).
    wanted = coupon.need(req) if req.pc == PC_REDEEM and coupon.CODE_TAG in req.tags else None
    segment = segment_need(state.config.coalition_of_store(term.store),
                           state.config.stores[term.store], req) \
        if req.pc == PC_EARN else None
    birthday = birthday_need(state, req, state.config.stores[term.store]) \
        if req.pc == PC_EARN else None
    if not (mac or pin or earn is not None or totals is not None or wanted or account
            or segment or birthday):
        return NOTHING
    return Needs(mac=mac, pin=pin, earn=earn, totals=totals, coupon=wanted, account=account,
                 segment=segment, birthday=birthday)


def earn_id(req: Request) -> int | None:
    """The journal id a return's `OR` names (the RRN is the journal id, 12 digits)."""
    rrn = req.tags.get("OR", "")
    return int(rrn) if is_digits(rrn, 12) else None


def _uncached(state: State, tid: str, batch: str) -> tuple[str, str] | None:
    key = (tid, batch)
    return None if key in state.totals else key


def in_memory(state: State, need: Needs, checks: Checks) -> Facts:
    """Facts for a state that was never journaled: no row beyond memory exists.

    Raises `LookupError` when the state was recovered from (or committed to) a journal and a
    need can only be answered there: give `handle` the store's `fetch`.
    """
    if state.durable_upto and need.journal:
        raise LookupError("this state's rows are in a journal: pass fetch= (Journal.fetch)")
    return Facts(need, checks)


# -- rows in memory: entries applied but not committed yet ------------------------------------


def returns_in_memory(state: State, earn: Entry, journal: Returned
                      ) -> tuple[list[ReturnRow], set[int]]:
    """Uncommitted returns against `earn`, and uncommitted approved reversals that undid it or
    one of its returns (ids); `journal` is what the journal holds against it."""
    returns: list[ReturnRow] = []
    undone: set[int] = set()
    targets = {earn.id}
    # Only an entry that names an original can be either; most name none (earns, burns).
    naming = list(state.naming.values())
    for entry in naming:
        if entry.response_code != RC_APPROVED:
            continue
        if entry.kind == KIND_RETURN and entry.original_id == earn.id:
            returns.append(ReturnRow(entry.id, entry.amount, -entry.points))
            targets.add(entry.id)
    targets.update(r.journal_id for r in journal.returns)
    for entry in naming:
        if (entry.kind == KIND_REVERSAL and entry.original_id in targets
                and entry.response_code == RC_APPROVED and entry.detail.get("undone")):
            undone.add(entry.original_id)
    return returns, undone
