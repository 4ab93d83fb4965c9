"""Expiry and breakage: points that lapse release their issuing store's liability.

A lot is unusable on business day `expires_on` and after (the switch's burn order skips it).
The breakage a day records is the change in the positive remaining of all unusable lots over
that day: a lot lapsing today brings its whole remaining; a lot that lapsed earlier brings only
what a late reversal put back into it (or gives back what a return clawed from it). Summed over
days this equals the remaining of every lapsed lot, so nothing is recorded twice or lost.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from settlement.netting import StoreInfo
from settlement.records import InputError, LotExpiry


@dataclass(frozen=True, slots=True)
class Breakage:
    """Per issuing store: lots lapsing today and the points (and their value) released."""

    store_id: str
    store_name: str
    coalition: str
    lots: int
    points: int
    amount: int
    currency: str


def lot_breakage(lot: LotExpiry, day: dt.date) -> int:
    """The breakage one lot contributes to `day` (see the module docstring)."""
    if lot.expires_on > day:
        raise InputError(f"lot {lot.lot_id} expires on {lot.expires_on}, after {day}")
    before = max(lot.before, 0) if lot.expires_on < day else 0
    return max(lot.after, 0) - before


def breakage(
    lots: Iterable[LotExpiry], stores: Mapping[str, StoreInfo], day: dt.date
) -> list[Breakage]:
    """Breakage per configured store (zero rows included), by coalition then store."""
    count: dict[str, int] = {}
    points: dict[str, int] = {}
    for lot in lots:
        if lot.issuer not in stores:
            raise InputError(f"lot {lot.lot_id} was issued by {lot.issuer!r}, not configured")
        b = lot_breakage(lot, day)
        if lot.expires_on == day:
            count[lot.issuer] = count.get(lot.issuer, 0) + 1
        points[lot.issuer] = points.get(lot.issuer, 0) + b
    return [
        Breakage(
            s.id, s.name, s.coalition, count.get(s.id, 0), points.get(s.id, 0),
            points.get(s.id, 0) * s.point_value, s.currency,
        )
        for s in sorted(stores.values(), key=lambda s: (s.coalition, s.id))
    ]
