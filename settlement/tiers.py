"""Tier downgrades of the nightly job: the programs' rule, run for every card at once.

The switch applies the nightly downgrade lazily, at a card's first message of a day
(`switch.core.programs.club.nightly_tier`); settlement runs that same function for every card
holding a tier, so the night after the settled day lists who goes down, and the two can never
disagree. Qualifying spend is taken up to the settled day only (`card_spend`); the tier held is
the card's at the time of the run (a card that already transacted after the night shows no
change: the switch applied it then). A paid membership holds its tier through its last day
whatever the spend (`club.member_floor`): the night after, its lapse shows here as the
downgrade the spend alone decides (docs/programs.md "Paid memberships"). PANs are masked in
the output (docs/protocol.md §6).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from switch.journal import DayReader

CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class Downgrade:
    pan: str
    coalition: str
    before: str
    after: str

    @property
    def masked(self) -> str:
        pan = self.pan
        return "*" * len(pan) if len(pan) < 11 else pan[:6] + "*" * (len(pan) - 10) + pan[-4:]

    def line(self) -> str:
        return f"{self.pan}|{self.coalition}|{self.before}|{self.after}"


def downgrades(reader: DayReader, coalitions: Mapping[str, Any], day: dt.date
               ) -> Iterator[Downgrade]:
    """The night after `day`: cards whose tier goes down, by PAN."""
    try:
        from switch.core.programs.club import Club, nightly_tier
    except ImportError:  # a switch without programs has no tiers to lower
        return
    night = day + dt.timedelta(days=1)
    since = day - dt.timedelta(days=400)
    rows = reader.tiered_cards()
    members = reader.paid_members(day)
    for i in range(0, len(rows), CHUNK):
        part = rows[i:i + CHUNK]
        clubs = {pan: Club(tier=tier, tier_day=tier_day) for pan, tier, tier_day, _ in part}
        for pan, club in clubs.items():
            if pan in members:
                club.member_tier, club.member_until = members[pan]
        for pan, spent_on, amount in reader.spend(clubs, since, day):
            clubs[pan].spend[spent_on] = amount
        for pan, tier, _, coalition in part:
            co = coalitions.get(coalition)
            if co is None or not co.tiers:
                continue
            after = nightly_tier(clubs[pan], co.tiers, night)
            if after != tier:
                yield Downgrade(pan, coalition, tier, after)
