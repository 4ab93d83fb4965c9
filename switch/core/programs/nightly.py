"""The programs' part of the nightly job, as pure functions the settlement run can call.

`expire_due`: the lots that lapse on a business day (a lot is unusable from `expires_on` on),
with the breakage per issuing store. `tier_downgrades`: the cards whose tier the night of a day
lowers. The switch applies the same rule lazily (`club.nightly_tier`), so these report what
the switch will do, and never disagree with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from switch.core.catalog import Coalition
from switch.core.codes import LotKind
from switch.core.model import Card, Lot
from switch.core.programs.club import Club, nightly_tier


@dataclass(frozen=True, slots=True)
class Lapse:
    lot_id: int
    pan: str
    store: str
    expires_on: dt.date
    points: int


@dataclass(frozen=True, slots=True)
class Expiry:
    """What lapses on `day`: every lot, and the points per issuing store (its breakage)."""

    day: dt.date
    lapses: tuple[Lapse, ...]
    breakage: Mapping[str, int]

    @property
    def points(self) -> int:
        return sum(self.breakage.values())


def expire_due(lots: Iterable[Lot], day: dt.date) -> Expiry:
    """Points lots whose `expires_on` is `day`, with positive remaining (debts do not lapse)."""
    lapses = sorted(
        (Lapse(lot.id, lot.pan, lot.store, day, lot.remaining) for lot in lots
         if lot.kind == LotKind.POINTS and lot.expires_on == day and lot.remaining > 0),
        key=lambda x: x.lot_id,
    )
    breakage: dict[str, int] = {}
    for lapse in lapses:
        breakage[lapse.store] = breakage.get(lapse.store, 0) + lapse.points
    return Expiry(day, tuple(lapses), dict(sorted(breakage.items())))


@dataclass(frozen=True, slots=True)
class Downgrade:
    pan: str
    before: str
    after: str


def tier_downgrades(cards: Iterable[Card], coalitions: Mapping[str, Coalition],
                    day: dt.date) -> list[Downgrade]:
    """Cards whose tier the nightly job before `day` lowers (by PAN)."""
    out = []
    for card in cards:
        club: Club | None = card.club
        co = coalitions.get(card.coalition)
        if club is None or co is None or not co.tiers or not club.tier:
            continue
        after = nightly_tier(club, co.tiers, day)
        if after != club.tier:
            out.append(Downgrade(card.pan, club.tier, after))
    return sorted(out, key=lambda d: d.pan)
