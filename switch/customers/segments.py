"""RFM segments (docs/customers.md, "Segments"): which of a coalition's definitions a customer
meets, from when they joined, their last purchase (recency), their purchases (frequency) and
what they spent (monetary) over the coalition's window.

Pure: the nightly job reads the figures (`switch.journal.sql.club`), `classify` names the
segment, the job stores it. The first definition, in the configuration's order, whose every
threshold holds names the segment; none: the customer is in no segment (`""`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from switch.config.club import SegmentRule

if TYPE_CHECKING:
    from switch.config import Config
    from switch.journal.customers import Customers

__all__ = ["NO_SEGMENT", "Rfm", "SegmentCount", "classify", "meets", "read_segment_counts",
           "segment_counts"]

#: A customer no definition fits.
NO_SEGMENT = ""


@dataclass(frozen=True, slots=True)
class Rfm:
    """One account's figures on the day segments are computed for."""

    account_id: int
    joined: dt.date
    #: The business day of the last purchase (None: never bought).
    last_purchase: dt.date | None
    #: Purchases and their amounts (IRR) in the window, reversed ones left out.
    purchases: int
    spend: int


def meets(rule: SegmentRule, rfm: Rfm, day: dt.date) -> bool:
    """Every threshold `rule` gives holds for `rfm` on `day`."""
    if rule.joined_within_days is not None and (day - rfm.joined).days >= rule.joined_within_days:
        return False
    since = None if rfm.last_purchase is None else (day - rfm.last_purchase).days
    if rule.bought_within_days is not None and (since is None
                                                or since >= rule.bought_within_days):
        return False
    # A customer who never bought has been absent since joining.
    absent = since if since is not None else (day - rfm.joined).days
    if rule.absent_days is not None and absent < rule.absent_days:
        return False
    if rule.min_purchases is not None and rfm.purchases < rule.min_purchases:
        return False
    return rule.min_spend is None or rfm.spend >= rule.min_spend


def classify(rules: Sequence[SegmentRule], rfm: Rfm, day: dt.date) -> str:
    """The first segment `rfm` meets (`NO_SEGMENT`: none)."""
    for rule in rules:
        if meets(rule, rfm, day):
            return rule.name
    return NO_SEGMENT


@dataclass(frozen=True, slots=True)
class SegmentCount:
    """How many customers of a coalition were in a segment on the day it was computed."""

    coalition: str
    segment: str
    day: dt.date
    customers: int


def segment_counts(customers: Customers, coalition: str | None = None) -> list[SegmentCount]:
    """The stored segments' sizes by coalition and segment (`lps report --segments`, the
    console): what the last nightly run computed; empty before the first."""
    return [SegmentCount(c, s, d, n) for c, s, d, n in customers.club.counts(coalition)]


def read_segment_counts(config: Config, coalition: str | None = None) -> list[SegmentCount]:
    """`segment_counts` on the switch's database `config` names."""
    from switch.journal import open_customers

    customers = open_customers(config.switch.journal)
    try:
        return segment_counts(customers, coalition)
    finally:
        customers.close()
