"""Opt-out from promotional messages (a customer's reply or an operator's switch), and from
receipt SMS (an operator's switch).

A reply of `لغو` (cancel), `انصراف` (withdraw) or `STOP`, in any letter case, with spaces,
ZWNJ, Arabic letter forms or digits around it (operators often ask for "لغو ۱۱"), turns
promotional messages to that number off. Transactional messages (a receipt, a balance) still
go: the customer asked for the transaction. docs/messaging.md §Opt-out.
"""

from __future__ import annotations

import datetime as dt

from switch.core.text import search_key, to_ascii_digits
from switch.journal import Outbox

__all__ = ["OPT_OUT_WORDS", "is_opt_out", "promotional_allowed", "set_consent", "set_receipts"]

OPT_OUT_WORDS = ("لغو", "انصراف", "stop", "unsubscribe")
_KEYS = frozenset(search_key(w) for w in OPT_OUT_WORDS)
_STRIP = "0123456789.,!؟?:;-_()«»\"'*#"


def is_opt_out(text: str) -> bool:
    """Whether a customer's reply asks to stop promotional messages."""
    key = search_key(to_ascii_digits(text)).strip(_STRIP)
    return key in _KEYS


def set_consent(box: Outbox, address: str, promotional: bool, source: str,
                now: dt.datetime) -> None:
    """Record an opt-out (`promotional=False`) or opt-in for a normalised address."""
    with box.transaction():
        box.set_consent(address, promotional, source, now)


def set_receipts(box: Outbox, address: str, on: bool, source: str, now: dt.datetime) -> None:
    """Receipt SMS to a normalised mobile on or off (docs/messaging.md, "Receipts"): the one
    transactional message a customer may turn off, since they get it unasked."""
    with box.transaction():
        box.set_receipts(address, on, source, now)


def promotional_allowed(box: Outbox, address: str) -> bool:
    return box.consent(address) is not False
