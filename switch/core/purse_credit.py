"""Gift credit to a card's purse (stored value) granted by the club, not bought at a till
(docs/customers.md "Gift credit to the purse"): the win-back trigger's «شارژ هدیه».

A credit is a new purse lot of the store that grants it: that store owes it, like a top-up it
sold, and settlement nets a spend of it at another store (a coalition-wide purse) on the
stored-value side (docs/settlement.md). The entry is a `card_admin` row with
`detail.action = "purse_credit"` whose `sv` is the credit, so recovery, `lps check` and
settlement read it like the other operator commands. Decided on the state like
`admin.decide_adjust`, refused with `AdminError` and nothing changed when it cannot be made.
"""

from __future__ import annotations

import datetime as dt

from switch.core import entries as E
from switch.core.admin import AdminError, admin_entry, store_card
from switch.core.apply import apply
from switch.core.calendar import business_day
from switch.core.ledger import CardEdit, over_limits
from switch.core.luhn import luhn_ok
from switch.core.model import STORED_VALUE
from switch.core.outcome import Changes, Decision
from switch.core.state import State

__all__ = ["PURSE_CREDIT", "decide_purse_credit", "purse_credit_command"]

#: `detail.action` of the entry.
PURSE_CREDIT = "purse_credit"


def decide_purse_credit(state: State, pan: str, amount: int, store: str, reason: str,
                        actor: str, now: dt.datetime) -> Decision:
    """Credit `amount` rials to the purse of the active card `pan` as a lot of `store` (a
    store of the card's coalition), as a decision."""
    if not luhn_ok(pan):
        raise AdminError("not a Luhn-valid card number of 13-19 digits")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0 \
            or amount > state.limits.max_topup:
        raise AdminError(f"a purse credit is a whole number of rials from 1 to "
                         f"{state.limits.max_topup:,}")
    card = store_card(state, pan, store)
    if card.status != "active":
        raise AdminError(f"the card is {card.status}: no purse credit")
    cfg = state.config
    if not reason.strip():
        raise AdminError("a purse credit needs a reason")
    day = business_day(now, cfg.switch.zone, cfg.switch.business_day_cutover)
    edit = CardEdit(card)
    edit.create(state.next_lot_id, STORED_VALUE, store, card.coalition, day, None, amount)
    after = edit.after()
    why = over_limits(card, after, state.limits)
    if why:
        raise AdminError(why)
    entry = admin_entry(state, now, {"action": PURSE_CREDIT, "reason": reason, "by": actor},
                        pan=pan, store_id=store, coalition_id=card.coalition)
    entry.new_lots, entry.lot_deltas = edit.new_lots, edit.deltas
    entry.sv = edit.sv
    return Decision(None, [entry], changes=Changes(journal_id=entry.id, card=after,
                                                   lots_upto=state.next_lot_id + 1))


def purse_credit_command(state: State, pan: str, amount: int, store: str, reason: str,
                         actor: str, now: dt.datetime) -> E.Entry:
    """Decide and apply a purse credit; the entry to persist."""
    decision = decide_purse_credit(state, pan, amount, store, reason, actor, now)
    apply(state, decision)
    return decision.entries[0]
