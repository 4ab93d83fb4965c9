"""The records of rewards beyond points: coupons and their moves, and a version of the programs.

Plain data, below the decisions that use them (switch/core/coupon.py, gift_card.py,
program_change.py) and the journal entries that carry them (`Entry.coupon`,
`Entry.programs`). A coupon lives in the journal's tables, not in the state: a decision names
the one it reads in its needs and gets it in its facts (docs/switch.md, "The request path"),
then replays the moves still in memory over it (`coupon.current`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = [
    "ACTIVE",
    "REDEEM",
    "RELEASE",
    "VOID",
    "CouponFacts",
    "CouponMove",
    "CouponNeed",
    "CouponState",
    "CouponTerms",
    "ProgramVersion",
]

#: `CouponState.status`
ACTIVE = "active"
#: `CouponMove.action` (and `VOID` a status too): used at a purchase, given back by a reversal
#: of that purchase, voided by an operator.
REDEEM = "redeem"
RELEASE = "release"
VOID = "void"


@dataclass(frozen=True, slots=True)
class CouponTerms:
    """An issue of coupons (`lps coupons issue`): the terms every code of it carries."""

    issue: int
    coalition: str
    #: The store that pays the discount, "" for the coalition (its operator pays).
    issuer: str
    #: Percent off the purchase (1-100), or 0 for a fixed `amount` off.
    percent: int
    amount: int
    #: A percent coupon's cap, IRR (0: none).
    max_discount: int
    #: The smallest purchase (DE4) it is taken on.
    min_amount: int
    #: How many coupons of this issue one card may have redeemed at a time (0: no limit).
    per_customer: int
    #: The customer segment it is meant for ("": everyone); a customer outside it is declined
    #: (docs/programs.md "Coupons", docs/customers.md "Segments").
    segment: str
    #: The last business day it is taken.
    expires_on: dt.date

    def discount(self, purchase: int, cap: int = 0) -> int:
        """The discount on a purchase of `purchase` IRR: the percent (rounded down) or the
        amount, capped at `max_discount`, at the coalition's `cap` and at the purchase."""
        off = purchase * self.percent // 100 if self.percent else self.amount
        for limit in (self.max_discount, cap):
            if limit:
                off = min(off, limit)
        return min(off, purchase)


@dataclass(frozen=True, slots=True)
class CouponState:
    """A coupon as it stands: void or not, and the journal row that redeemed it (None: free)."""

    digest: str
    status: str = ACTIVE
    redeemed_by: int | None = None
    redeemed_pan: str = ""


@dataclass(frozen=True, slots=True)
class CouponNeed:
    """A coupon a decision reads (by its code's digest) and the card whose redemptions of the
    same issue it counts."""

    digest: str
    pan: str = ""


@dataclass(frozen=True, slots=True)
class CouponFacts:
    """What the journal holds of one coupon: its terms, its state, and the coupons of its
    issue the card has redeemed (their digests), before the moves still in memory."""

    terms: CouponTerms
    state: CouponState
    card_redeemed: frozenset[str] = frozenset()
    #: The segment the card's customer is in as the nightly job last stored it, read when the
    #: terms name one (None: no account, or no segment computed).
    card_segment: str | None = None


@dataclass(frozen=True, slots=True)
class CouponMove:
    """What one journal entry does to one coupon; the journal keeps each (`coupon_moves`), so
    settlement sums the discounts and a coupon's state can be replayed.

    `discount` is signed: positive when redeemed, negative when a reversal gives it back; the
    payer is `issuer` ("" for the coalition's operator), the payee `store`.
    """

    digest: str
    issue: int
    action: str
    coalition: str = ""
    issuer: str = ""
    store: str = ""
    pan: str = ""
    discount: int = 0
    #: A release: the redemption it gives back (only that one: a later redemption stays).
    original_id: int | None = None


@dataclass(frozen=True, slots=True)
class ProgramVersion:
    """A version of the programs (docs/programs.md "Changing programs while the switch runs"):
    its number, the SHA-256 of its canonical form, the file it was read from, and that form
    (JSON of every program key, by coalition and store)."""

    version: int
    digest: str
    file: str
    document: str
