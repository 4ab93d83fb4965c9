"""Reversal 0400/0420 and their repeats (docs/protocol.md §4, "Reversals").

DE90 names the original on the same terminal (DE41). A reversal must match its original:
the card (DE2 or DE35, or the account DE48 `MB` names), the amount (DE4: there are no partial
reversals, LPS-87 has no DE95), the processing code (DE3), the store (DE42) and DE90's MTI;
otherwise it is declined `12`, remembered, and changes nothing. A matching reversal of an
approved original not reversed yet undoes every lot move and program effect of it exactly (a
reversed earn already spent leaves a debt) and counts in the original's batch; a repeated one
is `00` with no effect. An earn against which returns stand is not reversed (`12`) until they
are: undoing it whole would take back again what they took back. A reversal of an unknown
original is `25` and leaves a tombstone, so that the original, should it arrive late, is
declined `05` with no effect.
"""

from __future__ import annotations

from switch.core import coupon, replay
from switch.core.accounts import named_pan
from switch.core.codes import CREDIT_PCS, DEBIT_PCS, EARN_KINDS, RC, Kind
from switch.core.entries import Entry
from switch.core.facts import NOTHING_RETURNED
from switch.core.ledger import CardEdit
from switch.core.outcome import Context, Decision, approve, count, decline, finish, new_entry
from switch.core.programs.club import ClubEffect
from switch.core.protocol import CANONICAL_MTI
from switch.core.request import Request
from switch.core.returns import so_far


def decide(ctx: Context) -> Decision:
    req, state = ctx.req, ctx.state
    entry = new_entry(req, Kind.REVERSAL, ctx.journal_id, ctx.now, ctx.day, ctx.store.id,
                      ctx.coalition.id)
    entry.detail = {"original_mti": req.original_mti}
    key = req.original_txn_key
    record = replay.recall(state, ctx.facts, key)
    if record is None or not record.reversible:
        return finish(ctx, entry, RC.ORIGINAL_NOT_FOUND, tombstone=True)
    original = state.uncommitted.get(record.journal_id)
    if original is None:
        original = ctx.facts.original(record.journal_id)
    if original is None:
        raise AssertionError(f"remembered original #{record.journal_id} is not in the journal")
    differs = mismatch(req, original, named_pan(ctx))
    if differs:
        entry.detail["mismatch"] = differs
        return finish(ctx, entry, RC.INVALID_TRANSACTION,
                      reason=f"reversal does not match its original: {differs}")
    # The row names the card it undoes: with DE48 `MB` the request has no card number, the
    # original's is the account's virtual card (docs/customers.md "Mobile numbers at the POS").
    entry.pan = original.pan
    card = state.cards.get(original.pan)
    if record.reversed or not record.approved or card is None:
        entry.original_id = original.id
        return finish(ctx, entry, RC.APPROVED, reason="nothing to undo")
    if returns_stand(ctx, original):
        entry.detail["refused"] = "returns stand against it"
        return finish(ctx, entry, RC.INVALID_TRANSACTION,
                      reason="returns stand against the original: reverse them first")
    entry.original_id = original.id
    edit = CardEdit(card)
    live = {lot.id: lot for lot in (*card.lots, *card.purse)}
    for move in original.lot_deltas:
        # Not on the card: spent (remaining 0) since; the move names the lot in full.
        lot = live.get(move.lot_id) or move.lot.with_remaining(0)
        edit.move(lot, -move.delta)
    entry.detail["undone"] = True
    program = original.detail.get("program")
    if program:
        edit.undo(ClubEffect.from_json(program), state.config, ctx.day)
    counted = None
    if original.pc in CREDIT_PCS or original.pc in DEBIT_PCS:
        counted = count(ctx, (original.terminal_id, original.batch),
                        credit=original.pc in CREDIT_PCS, reversal=True, amount=original.amount)
        if counted is None:
            return decline(ctx, entry, RC.OVER_LIMIT, reason="the batch's totals would overflow")
    decision = approve(ctx, entry, edit, {}, counted=counted,
                       reversed_=(key, record.reversed_now()) if key in state.txns else None)
    if entry.response_code == RC.APPROVED:
        entry.coupon = coupon.release(original)  # a coupon used by it is free again
    return decision


def returns_stand(ctx: Context, original: Entry) -> bool:
    """Whether approved returns not reversed stand against `original` (an earn): undoing the
    earn whole would take back again what they took back (docs/protocol.md §4)."""
    if original.kind not in EARN_KINDS:
        return False
    committed = ctx.facts.earn(original.id)[1] \
        if original.id not in ctx.state.uncommitted else NOTHING_RETURNED
    returned, _, _ = so_far(ctx, original, committed)
    return returned > 0


def mismatch(req: Request, original: Entry, pan: str) -> str:
    """What of the reversal disagrees with its original ("" when it matches); never the PAN.
    `pan`: the card the reversal names (for DE48 `MB`, its account's virtual card)."""
    if pan != original.pan:
        return "card (DE48 MB)" if req.mobile else "card (DE2/DE35)"
    if req.amount != original.amount:
        return "amount (DE4; partial reversals are not supported)"
    if req.pc != original.pc:
        return "processing code (DE3)"
    if req.store_id != original.store_id:
        return "store (DE42)"
    if CANONICAL_MTI.get(req.original_mti, req.original_mti) != \
            CANONICAL_MTI.get(original.mti, original.mti):
        return "DE90's original MTI"
    return ""
