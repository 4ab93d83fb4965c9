"""`decide(state, request, facts, now) -> Decision`: the whole outcome of one request,
computed without changing anything.

Given the same state, request, facts and `now` it always decides the same: no clock, no
randomness, no file, no socket. The checks every request passes are here, in the order
docs/protocol.md §4-§6 gives them; each operation has its module (financial, earn, redeem,
returns, stored_value, stamps, reversal, batch, network). Journal rows are read only through
`Facts`, which asserts they were among the request's needs.
"""

from __future__ import annotations

import datetime as dt

from iso8583.message import Message
from switch.core import batch, financial, network, replay, reversal
from switch.core.calendar import business_day_of
from switch.core.codes import RC
from switch.core.facts import Facts
from switch.core.model import Remembered
from switch.core.outcome import Context, Decision, reject
from switch.core.protocol import REVERSALS
from switch.core.request import Request
from switch.core.security import mac_refusal
from switch.core.state import State


def decide(state: State, req: Request, facts: Facts, now: dt.datetime) -> Decision:
    decision = _decide(state, req, facts, now)
    for entry in decision.entries:  # the programs it was decided under (docs/programs.md)
        entry.program_version = state.program_version
    return decision


def _decide(state: State, req: Request, facts: Facts, now: dt.datetime) -> Decision:
    cfg = state.config.switch
    day = business_day_of(now, cfg.zone, cfg.business_day_cutover)
    if req.refusal is not None:
        return reject(state, req, req.refusal, req.reason, now, day)
    if req.canonical == "0800":
        return network.decide(state, req, facts, now, day)
    checks = facts.checks
    if checks.hsm_unavailable:
        return reject(state, req, RC.SWITCH_UNAVAILABLE, "HSM unavailable", now, day)
    refusal = mac_refusal(state, req, checks)
    if refusal:
        # Before the idempotency lookup: an unauthenticated request is neither answered from
        # the cache nor remembered (a later genuine request with its key is decided normally).
        return reject(state, req, RC.SECURITY_VIOLATION, refusal, now, day)
    known = replay.recall(state, facts, req.key)
    if known is not None:
        if known.digest == req.digest:
            return retransmission(state, req, facts, known)
        return reject(state, req, RC.DUPLICATE, "STAN reused with different content", now, day)
    term = state.terminals.get(req.tid)
    if term is None or term.store != req.store_id:
        return reject(state, req, RC.UNKNOWN_TERMINAL,
                      f"unknown terminal {req.tid!r} or store {req.store_id!r}", now, day)
    store = state.config.stores[term.store]
    coalition = state.config.coalitions[store.coalition]
    ctx = Context(state, req, facts, now, day, term, store, coalition)
    if req.canonical == "0500":
        return batch.decide(ctx)
    if req.canonical in REVERSALS:
        return reversal.decide(ctx)
    return financial.decide(ctx)


def retransmission(state: State, req: Request, facts: Facts, known: Remembered) -> Decision:
    """The earlier response again (the stored message; the TPDU is this request's swapped),
    changing nothing."""
    mem = state.uncommitted.get(known.journal_id)
    stored = mem.response if mem is not None else facts.reply(known.journal_id)
    if stored is None:
        raise AssertionError(f"the reply of #{known.journal_id} is not in the journal")
    resp = Message(stored.mti, dict(stored.fields), req.msg.swapped_tpdu(),
                   stored.secondary_bitmap)
    return Decision(resp, retransmission=True, reason="retransmission")
