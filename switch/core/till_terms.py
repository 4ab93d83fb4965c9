"""The terms of the rewards a till asks the switch for (docs/programs.md "Discounts at the
till" and "Paid memberships"): plain configuration data, read by `switch/config/till.py` and
decided on by `switch/core/till_discount.py` and `switch/core/membership.py`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

_NO_PERKS: Mapping[str, int] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class CoalitionDiscounts:
    """`[coalition.X.discounts]`: the tier perks every opted-in store gives, and the rule that
    turns points into a percent off ("each `points_step` points = `percent_step` % off")."""

    #: Tier name -> percent off (1-100) at the stores that opt in.
    tier_perks: Mapping[str, int] = field(default_factory=lambda: _NO_PERKS)
    #: 0: points are not converted into a discount.
    points_step: int = 0
    percent_step: int = 0
    #: The most of a purchase converted points may take off, percent (1-100).
    max_points_percent: int = 100


@dataclass(frozen=True, slots=True)
class StoreDiscounts:
    """`[store.X.discounts]`: what one store gives at its till."""

    #: The store gives the coalition's tier perks.
    tier_perk: bool = False
    #: `min_spend_percent` % off a purchase (DE4) of at least `min_spend_amount` IRR (0: none).
    min_spend_amount: int = 0
    min_spend_percent: int = 0
    #: Buy `buy` items, get `get` more free (0: none): the cheapest-equal items of DE48 `BQ`.
    buy: int = 0
    get: int = 0
    #: The price of the item a stamp reward gives (the store's `[stamps]`), IRR: DE48 `SU`
    #: rewards are taken off a purchase at it (0: stamp rewards are redeemed by `930000` only).
    stamp_value: int = 0


@dataclass(frozen=True, slots=True)
class MembershipLevel:
    """`[coalition.X.memberships.<level>]`: a club card sold at `price` IRR that holds `tier`
    for `months` months from the day it is bought, whatever the card spends."""

    level: str
    tier: str
    price: int
    months: int
