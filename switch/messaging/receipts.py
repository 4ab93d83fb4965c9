"""The receipt SMS of each approved transaction at a store that sends them (docs/messaging.md,
"Receipts"), decided in the shell from the entry and the state it left, and handed to the
group commit that makes the entry durable (switch/writer.py): both are written in one
transaction, or neither.

What gets one: an approved earn (0200 and 0220), redemption, return, stored-value top-up or
purchase, or discount at the till (`switch.config.receipts.RECEIPT_TEMPLATES`). A decline, a
retransmission answered from memory (it has no entry) and a reversal get none; the journal
then drops the receipts of cards that belong to no account with a mobile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from zoneinfo import ZoneInfo

from switch.config.receipts import RECEIPT_TEMPLATES
from switch.core.codes import RC
from switch.core.entries import Entry
from switch.core.ledger import available_points
from switch.core.state import State
from switch.journal.receipts import Receipt

__all__ = ["UNNAMED", "Receipts"]

#: `{name}` for a customer whose account has no name (a mobile number alone).
UNNAMED = "مشتری"


class Receipts:
    """`writer.submit`'s hook: the receipts of a decision's entries, right after `apply`."""

    def __init__(self, stores: Collection[str], state: Callable[[], State],
                 zone: ZoneInfo) -> None:
        self.stores = frozenset(stores)
        self.state = state
        self.zone = zone

    def __call__(self, entries: Sequence[Entry]) -> list[Receipt] | None:
        made: list[Receipt] | None = None
        for e in entries:
            if e.store_id not in self.stores:  # a store without receipts: this lookup only
                continue
            template = RECEIPT_TEMPLATES.get(e.kind)
            if template is None or e.response_code != RC.APPROVED:
                continue
            receipt = self._receipt(e, template)
            if receipt is not None:
                made = made or []
                made.append(receipt)
        return made

    def _receipt(self, e: Entry, template: str) -> Receipt | None:
        card = self.state().cards.get(e.pan)
        if card is None:
            return None
        # The card as this entry left it: the hook runs after `apply`, before the next
        # decision (switch/connection.py).
        params = {
            "name": UNNAMED,
            "points": abs(e.points),
            "balance": max(0, available_points(card, e.business_day)),
            "amount": e.amount,
            "credit": max(0, card.stored_value),
            "date": e.at.astimezone(self.zone).date().isoformat(),
            "time": e.at.astimezone(dt.UTC).isoformat(),
        }
        return Receipt(e.id, e.pan, e.coalition_id, e.store_id, template, params, e.at)
