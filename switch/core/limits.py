"""Limits on money, as data (docs/protocol.md §10): what no decision may go beyond.

The wire fixes how wide a number can be: DE4 and each DE54 balance carry 12 digits, the 0500
counts (DE74-77) 10 and the 0500 amounts (DE86-89) 16. `decide` declines (`61`) a request whose
outcome would not fit, before anything could overflow a field or a 64-bit SQLite integer, and
`apply` asserts the same bounds again.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The largest number twelve digits hold: DE4, and a DE54 balance.
TWELVE_DIGITS = 999_999_999_999


@dataclass(frozen=True, slots=True)
class MoneyLimits:
    """The limits the switch declines at (`61`); the defaults are the fields' widths.

    `max_points` bounds, per card, both the points its positive lots hold and the debt its
    negative lots hold, so that every balance DE54 can show (available points, net of expired
    lots and debts) fits in 12 digits whatever lots expire later. `max_stored_value` does the
    same for the purse.
    """

    #: The largest DE4 a request may carry.
    max_amount: int = TWELVE_DIGITS
    #: A card's points: its positive lots add up to at most this, its debts to at least minus it.
    max_points: int = TWELVE_DIGITS
    #: A card's stored value, the same way.
    max_stored_value: int = TWELVE_DIGITS
    #: The most stored value one top-up may credit (DE4 plus the store's bonus).
    max_topup: int = TWELVE_DIGITS
    #: Per terminal batch: counts (DE74-77, 10 digits) and amounts (DE86-89, 16 digits).
    max_batch_count: int = 9_999_999_999
    max_batch_amount: int = 9_999_999_999_999_999


DEFAULT_LIMITS = MoneyLimits()

