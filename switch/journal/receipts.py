"""A receipt SMS as the group commit takes it: one per approved transaction at a store that
sends them, written in the transaction of its journal row (docs/messaging.md, "Receipts").

The shell decides the wording's values from the decision (`switch.messaging.receipts`); the
journal adds who gets it, read in the same transaction: the account the card belongs to, its
mobile and name. A card without such an account gets no receipt.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["Receipt", "receipt_key"]


class Receipt(NamedTuple):
    """One transaction's receipt, before its recipient is known."""

    #: The journal row it is the receipt of (its dedupe key: one receipt per row).
    journal_id: int
    pan: str
    coalition_id: str
    store_id: str
    #: The `[messaging.templates]` wording it is rendered with when sent.
    template: str
    #: The template's values in their stored (JSON) form; `name` is the account's when it
    #: has one, this one otherwise.
    params: Mapping[str, Any]
    at: dt.datetime


def receipt_key(journal_id: int) -> str:
    """The outbox `dedupe_key` of journal row `journal_id`'s receipt."""
    return f"receipt:{journal_id}"
