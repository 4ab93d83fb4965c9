"""Redeem `900000`: pay DE4 with points at the coalition's point value, or `RP` points
(docs/protocol.md §4); lots are consumed in the `RuleBook`'s burn order."""

from __future__ import annotations

from switch.core.codes import RC
from switch.core.entries import Entry
from switch.core.ledger import CardEdit, available_points
from switch.core.outcome import Context, Decision, approve, count, decline
from switch.core.security import SECURITY, pin_outcome


def decide(ctx: Context, entry: Entry, edit: CardEdit) -> Decision:
    req, state = ctx.req, ctx.state
    rp = req.tags.get("RP")  # ASCII digits: parse_request checked it
    points = int(rp) if rp is not None else state.rules.redeem_points(ctx.coalition, req.amount)
    if points <= 0:
        return decline(ctx, entry, RC.INVALID_AMOUNT, edit)
    refused = check_pin(ctx, entry, edit)
    if refused is not None:
        return decline(ctx, entry, refused, edit)
    card = edit.card
    if available_points(card, ctx.day) < points:
        return decline(ctx, entry, RC.INSUFFICIENT, edit)
    if edit.consume(state.rules.burn_order(card.lots, ctx.day), points):
        raise AssertionError("consumed more than was available")
    counted = count(ctx, (req.tid, req.batch), credit=False, reversal=False, amount=req.amount)
    if counted is None:
        return decline(ctx, entry, RC.OVER_LIMIT, edit, "the batch's totals would overflow")
    return approve(ctx, entry, edit, {"RD": str(points)}, counted=counted)


def check_pin(ctx: Context, entry: Entry, edit: CardEdit) -> RC | None:
    """The PIN of a spend (docs/protocol.md §6): the decline code, or None. A changed count
    of wrong PINs travels in the entry, as durable as the answer."""
    refused, tries = pin_outcome(edit.card, ctx.req, ctx.facts.checks)
    if tries != edit.card.pin_tries:
        edit.pin_tries = tries
        entry.detail[SECURITY] = {"card_pin": {"tries": tries}}
    return refused
