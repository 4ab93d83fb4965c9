"""Return `200000`: claw back the points earned on the original (`OR`) in proportion to DE4
(docs/protocol.md §4, docs/switch.md "Decisions").

Cumulative and rounded down: after returns totalling R of an earn of amount A and points P,
`floor(P * R / A)` points are clawed back in all. The claw-back takes the earn's own lots
first, then the card's other lots in burn order; beyond that the earn's first lot goes
negative (a debt, still attributed to its store).
"""

from __future__ import annotations

import datetime as dt

from switch.core.codes import EARN_KINDS, RC
from switch.core.entries import Entry
from switch.core.facts import NOTHING_RETURNED, Returned, ReturnRow
from switch.core.ledger import CardEdit
from switch.core.needs import earn_id, returns_in_memory
from switch.core.outcome import Context, Decision, approve, decline
from switch.core.programs.club import ClubEffect, nightly_tier


def decide(ctx: Context, entry: Entry, edit: CardEdit) -> Decision:
    req, state = ctx.req, ctx.state
    card = edit.card
    earn, journal = _earn(ctx)
    window = ctx.day - dt.timedelta(days=state.config.switch.return_window_days)
    if (earn is None or earn.kind not in EARN_KINDS or earn.response_code != RC.APPROVED
            or earn.pan != card.pan or earn.business_day < window):
        return decline(ctx, entry, RC.ORIGINAL_NOT_FOUND, edit)
    returned, clawed, reversed_ = so_far(ctx, earn, journal)
    if reversed_:
        return decline(ctx, entry, RC.ORIGINAL_NOT_FOUND, edit)
    amount = req.amount
    if amount <= 0 or returned + amount > earn.amount:
        return decline(ctx, entry, RC.INVALID_AMOUNT, edit)
    entry.original_id = earn.id
    target = earn.points * (returned + amount) // earn.amount
    claw = target - clawed
    if claw > 0:
        live = {lot.id: lot for lot in card.lots}
        made = [move.lot for move in earn.lot_deltas]  # an earn's moves make its lots
        own = [live[lot.id] for lot in made if lot.id in live and live[lot.id].remaining > 0]
        own_ids = {lot.id for lot in own}
        others = [lot for lot in state.rules.burn_order(card.lots, ctx.day)
                  if lot.id not in own_ids]
        short = edit.consume(own + others, claw)
        if short:
            # Points already spent: the shortfall becomes a debt on the earn's first lot.
            first = made[0]
            edit.move(live.get(first.id) or first.with_remaining(0), -short)
    if card.club is not None and _counted(earn):  # the amount no longer counts for the tier
        # ... from the next night: the tier today's cut-over gave is kept (docs/programs.md).
        tier = nightly_tier(card.club, ctx.coalition.tiers, ctx.day) \
            if ctx.coalition.tiers else None
        effect = ClubEffect(day=ctx.day, spend_day=earn.business_day, spend=-amount,
                            tier_before=tier, tier_after=tier or "")
        edit.effect(effect)
        entry.detail["program"] = effect.to_json()
    return approve(ctx, entry, edit, {"RD": str(claw)})


def _counted(earn: Entry) -> bool:
    """Whether the earn counted towards the card's 12-month spend: a return subtracts its
    amount from what its earn added (docs/programs.md "Tiers"), and the base rules count no
    spend, even on a card whose club state a paid membership made."""
    program = earn.detail.get("program")
    return isinstance(program, dict) and bool(program.get("spend"))


def _earn(ctx: Context) -> tuple[Entry | None, Returned]:
    """The earn `OR` names: in memory when not committed yet (then nothing against it is
    committed either), else from the journal with what was returned against it."""
    jid = earn_id(ctx.req)
    if jid is None:
        return None, NOTHING_RETURNED
    mem = ctx.state.uncommitted.get(jid)
    if mem is not None:
        return mem, NOTHING_RETURNED
    return ctx.facts.earn(jid)


def so_far(ctx: Context, earn: Entry, journal: Returned) -> tuple[int, int, bool]:
    """What was returned against `earn` and clawed back so far, and whether it is reversed:
    its committed returns (the journal's) and the uncommitted ones, by journal id."""
    mine, undone = returns_in_memory(ctx.state, earn, journal)
    undone |= journal.undone
    rows: dict[int, ReturnRow] = {r.journal_id: r for r in journal.returns}
    rows.update((r.journal_id, r) for r in mine)
    kept = [r for jid, r in rows.items() if jid not in undone]
    return (sum(r.amount for r in kept), sum(r.clawed for r in kept), earn.id in undone)
