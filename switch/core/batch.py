"""0500 `920000` batch close (docs/protocol.md §4): the terminal's totals of batch DE62
against the switch's, `00` in balance or `95` out of it; both sets go into the journal row."""

from __future__ import annotations

from switch.core.codes import PC, RC, Kind
from switch.core.outcome import Context, Decision, batch_totals, finish, new_entry


def decide(ctx: Context) -> Decision:
    req = ctx.req
    entry = new_entry(req, Kind.BATCH_CLOSE, ctx.journal_id, ctx.now, ctx.day, ctx.store.id,
                      ctx.coalition.id)
    if req.pc != PC.BATCH_CLOSE:
        return finish(ctx, entry, RC.INVALID_TRANSACTION,
                      reason=f"processing code {req.pc} is not a batch close")
    assert req.terminal_totals is not None
    terminal = dict(req.terminal_totals)
    ours = batch_totals(ctx, (req.tid, req.batch)).as_fields()
    entry.detail = {
        "terminal": {str(k): v for k, v in terminal.items()},
        "switch": {str(k): v for k, v in ours.items()},
    }
    rc = RC.APPROVED if ours == terminal else RC.OUT_OF_BALANCE
    return finish(ctx, entry, rc)
