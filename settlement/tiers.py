"""Tier downgrades of the nightly job: the programs' rule, run for every card at once.

The switch applies the nightly downgrade lazily, at a card's first message of a day
(`switch.core.programs.club.nightly_tier`); settlement runs that same function for every card
holding a tier, so the night after the settled day lists who goes down, and the two can never
disagree. Qualifying spend is taken up to the settled day only (`card_spend`); the tier held is
the card's at the time of the run (a card that already transacted after the night shows no
change: the switch applied it then). PANs are masked in the output (docs/protocol.md §6).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

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


def downgrades(q: Any, coalitions: Mapping[str, Any], day: dt.date) -> Iterator[Downgrade]:
    """The night after `day`: cards whose tier goes down, by PAN. `q` runs SQL (a Journal's)."""
    try:
        from switch.core.programs.club import Club, nightly_tier
    except ImportError:  # a switch without programs has no tiers to lower
        return
    tables = {r[0] for r in q("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not {"card_club", "card_spend", "cards"} <= tables:
        return
    night = day + dt.timedelta(days=1)
    since = (day - dt.timedelta(days=400)).isoformat()
    rows = q("SELECT cc.pan, cc.tier, cc.tier_day, c.coalition_id FROM card_club cc "
             "JOIN cards c ON c.pan = cc.pan WHERE ifnull(cc.tier, '') != '' ORDER BY cc.pan"
             ).fetchall()
    for i in range(0, len(rows), CHUNK):
        part = rows[i:i + CHUNK]
        clubs = {}
        for pan, tier, tier_day, _ in part:
            clubs[pan] = Club(tier=tier,
                              tier_day=dt.date.fromisoformat(tier_day) if tier_day else None)
        marks = ",".join("?" * len(part))
        for pan, spent_on, amount in q(
            f"SELECT pan, business_day, amount FROM card_spend WHERE pan IN ({marks}) "
            "AND business_day > ? AND business_day <= ? AND amount != 0",
            (*clubs, since, day.isoformat()),
        ):
            clubs[pan].spend[dt.date.fromisoformat(spent_on)] = amount
        for pan, tier, _, coalition in part:
            co = coalitions.get(coalition)
            if co is None or not co.tiers:
                continue
            after = nightly_tier(clubs[pan], co.tiers, night)
            if after != tier:
                yield Downgrade(pan, coalition, tier, after)
