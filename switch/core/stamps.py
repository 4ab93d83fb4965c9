"""`930000`: redeem one stamp reward (docs/programs.md); the base rules have none (`12`)."""

from __future__ import annotations

from switch.core.codes import RC
from switch.core.entries import Entry
from switch.core.ledger import CardEdit
from switch.core.outcome import Context, Decision, approve, decline


def decide(ctx: Context, entry: Entry, edit: CardEdit) -> Decision:
    result = ctx.state.rules.redeem_stamp(ctx.store, edit.card, ctx.day)
    if result.response_code != RC.APPROVED:
        return decline(ctx, entry, result.response_code, edit)
    if result.effect is not None:
        edit.effect(result.effect)
        entry.detail["program"] = result.effect.to_json()
    return approve(ctx, entry, edit, dict(result.tags))
