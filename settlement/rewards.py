"""Rewards beyond points in the day's netting (docs/settlement.md "Coupons and gift cards").

- A coupon's discount is owed to the store that took it by whoever issued it: the issuing
  store, or for a coalition's coupon its operator (`operator:<coalition>`, a party of the
  netting as for the fee). A reversal's release is the same flow negative, so a redemption
  reversed on the same day nets to nothing. A store's own coupon taken at that store moves no
  money: the store gave its own discount.
- A gift card's value is stored value of the store that sold it, so a spend at another store
  is netted by the stored-value side like any purse (`settlement.netting.flows_of`). What
  lapses unspent is breakage on its expiry day: with `breakage = "seller"` the seller keeps
  what it was paid (a report line, no transfer); with `"operator"` the seller owes it to the
  coalition's operator (an obligation of this side).

- A club card's price (a paid membership, docs/programs.md) is collected by the store that sold
  it and owed to the coalition's operator, who runs the club; a reversed sale is the same flow
  negative.

Money is in IRR and integers throughout; the lapsed value is `expiry.lot_breakage`'s (a late
reversal into a lapsed lot adds to the day it lands on, never twice).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from settlement.expiry import lot_breakage
from settlement.records import InputError, LotExpiry
from settlement.terms import operator_id

__all__ = ["COUPON", "GIFT_BREAKAGE", "MEMBERSHIP", "CouponMove", "GiftLapse", "GiftLot",
           "MembershipSale", "coupon_payer", "gift_lapses"]

#: Flow kinds of this side (money already: no point value applies).
COUPON = "coupon"
GIFT_BREAKAGE = "gift_breakage"
MEMBERSHIP = "membership"
#: Who keeps a lapsed gift card's value (`[coalition.X.gift_cards] breakage`).
TO_SELLER = "seller"
TO_OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class CouponMove:
    """A coupon redemption (discount > 0) or its release (< 0) of the settled day."""

    journal_id: int
    issue: int
    coalition: str
    #: The issuing store, "" for the coalition's operator.
    issuer: str
    store: str
    discount: int

    def line(self) -> str:
        """Its line in the inputs digest."""
        return (f"{self.journal_id}|{self.issue}|{self.coalition}|{self.issuer or '-'}|"
                f"{self.store}|{self.discount}")


@dataclass(frozen=True, slots=True)
class MembershipSale:
    """A club card sold (price > 0) or a sale reversed (< 0) on the settled day."""

    journal_id: int
    coalition: str
    store: str
    price: int

    @property
    def payee(self) -> str:
        """The coalition's operator: it runs the club the card belongs to."""
        return operator_id(self.coalition)

    def line(self) -> str:
        """Its line in the inputs digest."""
        return f"{self.journal_id}|{self.coalition}|{self.store}|{self.price}"


def coupon_payer(move: CouponMove) -> str:
    """Who pays a coupon's discount: its issuing store, or the coalition's operator."""
    return move.issuer or operator_id(move.coalition)


@dataclass(frozen=True, slots=True)
class GiftLot:
    """A gift-card lot unusable on the settled day (`LotExpiry` with its coalition)."""

    lot: LotExpiry
    coalition: str


@dataclass(frozen=True, slots=True)
class GiftLapse:
    """Per selling store: gift-card lots lapsing on the day, their value, and who keeps it."""

    store_id: str
    coalition: str
    lots: int
    amount: int
    kept_by: str

    def line(self) -> str:
        return f"{self.store_id}|{self.coalition}|{self.lots}|{self.amount}|{self.kept_by}"


def gift_lapses(lots: Iterable[GiftLot], day: dt.date, policy: Mapping[str, str]
                ) -> tuple[list[GiftLapse], list[tuple[str, str, int]]]:
    """The day's gift-card breakage per seller, and the (seller, operator, amount) flows of
    the coalitions whose operator keeps it. `policy`: coalition -> `seller` or `operator`."""
    count: dict[tuple[str, str], int] = {}
    amount: dict[tuple[str, str], int] = {}
    for g in lots:
        kept_by = policy.get(g.coalition)
        if kept_by is None:
            raise InputError(f"gift-card lot {g.lot.lot_id} of coalition {g.coalition}: the "
                             "configuration has no [gift_cards] for it")
        key = (g.lot.issuer, g.coalition)
        if g.lot.expires_on == day:
            count[key] = count.get(key, 0) + 1
        amount[key] = amount.get(key, 0) + lot_breakage(g.lot, day)
    out = [GiftLapse(store, co, count.get((store, co), 0), amount[(store, co)], policy[co])
           for store, co in sorted(amount) if amount[(store, co)] or count.get((store, co))]
    flows = [(g.store_id, operator_id(g.coalition), g.amount) for g in out
             if g.kept_by == TO_OPERATOR and g.amount]
    return out, flows
