"""`snapshot(state)`: a deterministic, comparable picture of a `State` (docs/switch.md,
"Comparing states").

Plain tuples sorted by key, so two snapshots compare with `==` and a difference prints
readably. It holds what decisions read: cards (with PIN state), every live lot, program state,
terminals, remembered requests, tombstones, whether some left memory, cached batch totals and
the next ids. It leaves out memos (`Club.roll`, a rules object's caches) and
`State.uncommitted` (entries on their way to the journal, not state). Tests compare a state
with itself before and after a failed decision (nothing may change) and a live state with one
recovered from the journal: `durable()` drops what is a cache there (batch totals, read on
demand) and the next ids, which recovery takes from the journal, and given the day, the spend
no decision can read any more.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from switch.core.card_store import is_unread
from switch.core.model import Lot, Remembered
from switch.core.programs.club import spend_horizon
from switch.core.state import State


@dataclass(frozen=True, slots=True)
class Snapshot:
    cards: tuple[tuple[Any, ...], ...]
    lots: tuple[tuple[Any, ...], ...]
    clubs: tuple[tuple[Any, ...], ...]
    terminals: tuple[tuple[Any, ...], ...]
    txns: tuple[tuple[Any, ...], ...]
    tombstones: tuple[tuple[Any, ...], ...]
    totals: tuple[tuple[Any, ...], ...]
    next_ids: tuple[int, int]
    #: The business days of the newest request and tombstone that left memory inside the
    #: idempotency window (`State.forgot_day`, `forgot_tombstone_day`): while set, a key not in
    #: memory is looked up in the journal before it counts as new.
    forgotten: tuple[dt.date | None, dt.date | None] = (None, None)

    def durable(self, day: dt.date | None = None) -> Snapshot:
        """Without the batch-totals cache and the next ids: what recovery must give back.

        With `day` (the business day recovery runs on), also without each card's spend on days
        no window can ask for any more (`spend_horizon`): recovery does not load it, and a live
        card keeps it until its next `prune_spend`."""
        clubs = self.clubs
        if day is not None:
            horizon = spend_horizon(day)
            clubs = tuple((*c[:6], tuple(s for s in c[6] if s[0] > horizon), *c[7:])
                          for c in clubs)
        return replace(self, clubs=clubs, totals=(), next_ids=(0, 0))

    def balances(self) -> dict[tuple[str, str], int]:
        """Per card and lot kind, the sum of its lots."""
        out: dict[tuple[str, str], int] = {}
        for lot in self.lots:
            key = (lot[1], lot[2])
            out[key] = out.get(key, 0) + lot[8]
        return out


#: A card's live lots as the journal holds them (points, stored value): `SqlJournal.card_lots`.
LotsOf = Callable[[str], tuple[list[Lot], list[Lot]]]


def snapshot(state: State, lots_of: LotsOf | None = None) -> Snapshot:
    """The picture of `state`; the lots of a card a lazy recovery left unread come from
    `lots_of` (without it they raise `UnreadCard`), and the state is not changed."""
    cards, lots, clubs = [], [], []
    for pan, card in state.cards.items():
        cards.append((pan, card.coalition, card.status, card.enrolled_on, card.pin_ref,
                      card.pin_tries, card.virtual))
        points, purse = (card.lots, card.purse) if lots_of is None \
            or not is_unread(card.lots) else lots_of(pan)
        for lot in (*points, *purse):
            lots.append((lot.id, lot.pan, lot.kind, lot.store, lot.coalition, lot.earned_on,
                         lot.expires_on, lot.initial, lot.remaining))
        c = card.club
        if c is not None:
            clubs.append((pan, c.tier, c.tier_day, c.earned_day, c.earned, c.birthday_year,
                          tuple(c.spend.items()), tuple(sorted(c.stamps.items())),
                          tuple(sorted(c.rewards.items())), c.profile, c.member_tier,
                          c.member_until))
    terminals = [(t.id, t.store, t.signed_on, t.mac_key_ref, t.pin_key_ref, t.tmk_ref,
                  t.bdk_ref) for t in state.terminals.values()]
    txns = [(key, r.digest, r.journal_id, r.day, r.flags)
            for key, r in ((k, Remembered.unpack(v)) for k, v in state.txns.items())]
    tombs = list(state.tombstones.items())
    totals = [(*key, *t.as_tuple()) for key, t in state.totals.items()]
    return Snapshot(tuple(sorted(cards)), tuple(sorted(lots, key=_first)),
                    tuple(sorted(clubs, key=_first)), tuple(sorted(terminals)),
                    tuple(sorted(txns)), tuple(sorted(tombs)), tuple(sorted(totals)),
                    (state.next_journal_id, state.next_lot_id),
                    (state.forgot_day, state.forgot_tombstone_day))


def _first(row: tuple[Any, ...]) -> Any:
    return row[0]
