"""Earn `000000` (0200 purchase and 0220 offline advice): points from the `RuleBook` become
lots of the store (docs/protocol.md §4, docs/programs.md)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from switch.core.birthday import others_birthday_year
from switch.core.codes import RC
from switch.core.entries import Entry
from switch.core.ledger import CardEdit
from switch.core.model import POINTS
from switch.core.outcome import Context, Decision, approve, count, decline
from switch.core.rules import EarnContext
from switch.core.segment import card_segment
from switch.core.text import is_digits


def decide(ctx: Context, entry: Entry, edit: CardEdit, advice: bool) -> Decision:
    req, state = ctx.req, ctx.state
    amount = req.amount
    if amount <= 0:
        return decline(ctx, entry, RC.INVALID_AMOUNT, edit)
    local = purchase_time(req.msg.fields.get(13), req.msg.fields.get(12), ctx.now,
                          state.config.switch.zone) if advice else None
    result = state.rules.earn(EarnContext(ctx.store, ctx.coalition, edit.card, amount,
                                          ctx.now, ctx.day, advice, local, card_segment(ctx),
                                          others_birthday_year(ctx, edit.card.pan)))
    lots = [(result.points, result.expires_on), *result.extra_lots]
    if any(points < 0 for points, _ in lots):
        raise AssertionError("a RuleBook returned negative points for an earn")
    for points, expires in lots:
        if points:
            edit.create(state.next_lot_id + len(edit.new_lots), POINTS, ctx.store.id,
                        ctx.coalition.id, ctx.day, expires, points)
    if result.effect is not None:
        edit.effect(result.effect)
        entry.detail["program"] = result.effect.to_json()
    counted = count(ctx, (req.tid, req.batch), credit=True, reversal=False, amount=amount)
    if counted is None:
        return decline(ctx, entry, RC.OVER_LIMIT, edit, "the batch's totals would overflow")
    tags = {"EP": str(sum(points for points, _ in lots)), **result.tags}
    return approve(ctx, entry, edit, tags, counted=counted)


def purchase_time(date: object, time: object, now: dt.datetime,
                  zone: ZoneInfo) -> dt.datetime | None:
    """DE13 (MMDD) + DE12 (hhmmss) of an advice as a local time no later than `now`, or None.

    The year is the one that puts it at most a year back; a value that is not a date and a
    time is ignored (both fields are optional: the switch's clock is used instead).
    """
    if not (isinstance(date, str) and isinstance(time, str) and is_digits(date, 4)
            and is_digits(time, 6)):
        return None
    local_now = now.astimezone(zone)
    for year in (local_now.year, local_now.year - 1):
        try:
            when = dt.datetime(year, int(date[:2]), int(date[2:]), int(time[:2]),
                               int(time[2:4]), int(time[4:]), tzinfo=zone)
        except ValueError:
            continue  # 29 February of a common year, or not a date at all
        if when <= local_now:
            return when
    return None
