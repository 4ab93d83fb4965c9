"""Gift cards (docs/protocol.md §4, docs/programs.md "Gift cards"): a coalition-wide purse on a
card of the coalition's gift-card BIN range, with no customer behind it.

A gift card is sold (`210060`) at any store of the coalition: the first sale enrols it, the
value sold is a purse lot of the selling store (no top-up bonus) usable until
`expire_after_months` after the sale's business day. It is spent (`006000`) at any store of
the coalition, soonest expiry first, and its balance asked (`310000`); those two go the way of
any purse (switch/core/stored_value.py, `ledger.spendable_purse` takes every unexpired lot of a
gift card). Anything else on a gift card is `57`: it earns, burns and redeems nothing.
"""

from __future__ import annotations

import calendar
import datetime as dt

from switch.core.codes import PC, RC
from switch.core.entries import Entry
from switch.core.ledger import CardEdit, spendable_purse
from switch.core.model import STORED_VALUE
from switch.core.outcome import Context, Decision, approve, decline

#: What a gift card does: sold, spent, asked its balance.
ALLOWED = frozenset({PC.TOPUP, PC.SV_PURCHASE, PC.INQUIRY})


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` that many months later; a day the month lacks is its last (31 Jan + 1: 28 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def refusal(pc: str) -> str:
    """Why a gift card cannot do `pc` ("" when it can)."""
    if pc in ALLOWED:
        return ""
    return f"a gift card is a purse only: processing code {pc} is not for it"


def refuse(ctx: Context, entry: Entry, rc: RC, reason: str = "") -> Decision:
    """A declined sale, which makes no card: the first sale does, and a card never sold is
    `14` (docs/protocol.md §4 "Gift cards"). A sale checks no PIN, so nothing else of the
    card's edit would stay."""
    entry.card = None
    return decline(ctx, entry, rc, reason=reason)


def sell(ctx: Context, entry: Entry, edit: CardEdit) -> Decision:
    """`210060` on a gift card: DE4 becomes a lot of this store expiring with the policy."""
    gift = ctx.coalition.gift_cards
    assert gift is not None  # only gift cards come here
    amount = ctx.req.amount
    if amount <= 0:
        return refuse(ctx, entry, RC.INVALID_AMOUNT)
    if amount > ctx.state.limits.max_topup:
        return refuse(ctx, entry, RC.OVER_LIMIT, "the sale is over the largest top-up")
    if gift.max_balance:
        held = sum(lot.remaining for lot in spendable_purse(ctx.state.config, edit.card,
                                                            ctx.store, ctx.day))
        if held + amount > gift.max_balance:
            return refuse(ctx, entry, RC.OVER_LIMIT,
                          f"a gift card holds at most {gift.max_balance}")
    expires = add_months(ctx.day, gift.expire_after_months)
    edit.create(ctx.state.next_lot_id + len(edit.new_lots), STORED_VALUE, ctx.store.id,
                ctx.coalition.id, ctx.day, expires, amount)
    return approve(ctx, entry, edit, {})
