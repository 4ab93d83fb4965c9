"""Stored value (docs/protocol.md §4): `210060` tops the purse up with the store's bonus,
`006000` pays from the purse lots usable at the store."""

from __future__ import annotations

from switch.core.codes import RC
from switch.core.entries import Entry
from switch.core.ledger import CardEdit, spendable_purse
from switch.core.model import STORED_VALUE, Lot
from switch.core.outcome import Context, Decision, approve, count, decline
from switch.core.redeem import check_pin


def topup(ctx: Context, entry: Entry, edit: CardEdit) -> Decision:
    if ctx.store.stored_value is None:
        return decline(ctx, entry, RC.NOT_PERMITTED_TERMINAL, edit,
                       "this store sells no stored value")
    amount = ctx.req.amount
    if amount <= 0:
        return decline(ctx, entry, RC.INVALID_AMOUNT, edit)
    credit = ctx.state.rules.topup_credit(ctx.store, amount)
    if credit > ctx.state.limits.max_topup:
        return decline(ctx, entry, RC.OVER_LIMIT, edit, "the top-up is over the largest one")
    edit.create(ctx.state.next_lot_id + len(edit.new_lots), STORED_VALUE, ctx.store.id,
                ctx.coalition.id, ctx.day, None, credit)
    return approve(ctx, entry, edit, {})


def purchase(ctx: Context, entry: Entry, edit: CardEdit) -> Decision:
    req = ctx.req
    amount = req.amount
    if amount <= 0:
        return decline(ctx, entry, RC.INVALID_AMOUNT, edit)
    refused = check_pin(ctx, entry, edit)
    if refused is not None:
        return decline(ctx, entry, refused, edit)
    lots = [lot for lot in spendable_purse(ctx.state.config, edit.card, ctx.store, ctx.day)
            if lot.remaining > 0]
    if sum(lot.remaining for lot in lots) < amount:
        return decline(ctx, entry, RC.INSUFFICIENT, edit)
    lots.sort(key=Lot.burn_key)
    if edit.consume(lots, amount):
        raise AssertionError("consumed more than was available")
    counted = count(ctx, (req.tid, req.batch), credit=False, reversal=False, amount=amount)
    if counted is None:
        return decline(ctx, entry, RC.OVER_LIMIT, edit, "the batch's totals would overflow")
    return approve(ctx, entry, edit, {}, counted=counted)
