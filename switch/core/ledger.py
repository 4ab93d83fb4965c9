"""`CardEdit`: what one decision does to one card, computed without touching the card.

Lots moved become new `Lot` objects with their new `remaining` (the state's lots are never
changed in place, switch/core/model.py), new lots get the ids the decision reserves, program
effects are applied to a copy of the card's `Club`; `after()` is the card as the decision leaves
it. The decision replies from that view (DE54, DE48) and `apply` installs it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from switch.core.catalog import Catalog, Store
from switch.core.entries import LotDelta
from switch.core.limits import MoneyLimits
from switch.core.model import POINTS, Card, Lot, NewLot
from switch.core.programs import club as C


class CardEdit:
    """The changes to one card: lot moves and new lots (as journal rows), program effects,
    status and PIN tries."""

    __slots__ = ("card", "changed", "club", "deltas", "effects", "new", "new_lots", "pin_tries",
                 "points", "status", "sv")

    def __init__(self, card: Card, new: bool = False) -> None:
        self.card = card
        #: The card is enrolled by this decision (it is not in the state yet).
        self.new = new
        self.changed: dict[int, Lot] = {}
        self.deltas: list[LotDelta] = []
        self.new_lots: list[NewLot] = []
        self.points = 0
        self.sv = 0
        self.club = card.club
        self.effects: list[C.ClubEffect] = []
        self.pin_tries = card.pin_tries
        self.status = card.status

    def current(self, lot: Lot) -> Lot:
        """`lot` as this decision has left it so far."""
        return self.changed.get(lot.id, lot)

    def move(self, lot: Lot, delta: int) -> None:
        now = self.changed.get(lot.id, lot)
        after = now.with_remaining(now.remaining + delta)
        self.changed[lot.id] = after
        self.deltas.append(LotDelta(after, delta))
        if lot.kind == POINTS:
            self.points += delta
        else:
            self.sv += delta

    def create(self, lot_id: int, kind: str, store: str, coalition: str, day: dt.date,
               expires: dt.date | None, amount: int) -> Lot:
        lot = Lot(lot_id, self.card.pan, kind, store, coalition, day, expires, amount, 0)
        self.new_lots.append(NewLot(lot_id, lot.pan, kind, store, coalition, day, expires,
                                    amount))
        self.move(lot, amount)
        return self.changed[lot_id]

    def consume(self, lots: Iterable[Lot], need: int) -> int:
        """Take up to `need` from `lots` in order, never a lot below 0; what is left over."""
        for lot in lots:
            if need <= 0:
                break
            take = min(need, self.current(lot).remaining)
            if take > 0:
                self.move(lot, -take)
                need -= take
        return need

    def effect(self, effect: C.ClubEffect) -> None:
        """Apply a program effect to (a copy of) the card's program state."""
        club = self.club.copied() if self.club is not None else C.Club()
        C.apply(club, effect)
        self.club = club
        self.effects.append(effect)

    def undo(self, effect: C.ClubEffect, config: Catalog, day: dt.date) -> None:
        """Take a program effect back (a reversal) on a copy of the card's program state."""
        if self.club is None:
            return
        club = self.club.copied()
        C.undo(club, effect, config.coalitions[self.card.coalition].tiers, day)
        self.club = club
        self.effects.append(effect)

    def bare(self) -> CardEdit | None:
        """Only the enrolment and the PIN try count of this edit (what a decline keeps), or
        None when that changes nothing."""
        if not self.new and self.pin_tries == self.card.pin_tries:
            return None
        kept = CardEdit(self.card, self.new)
        kept.pin_tries = self.pin_tries
        return kept

    def club_rows(self) -> C.ClubRows | None:
        if not self.effects or self.club is None:
            return None
        return C.rows(self.card.pan, self.club, self.effects)

    def after(self) -> Card:
        """The card as this decision leaves it."""
        c = self.card
        lots, purse = c.lots, c.purse
        if self.changed:  # one pass sorts the changed lots into their pools
            points: list[Lot] = []
            stored: list[Lot] = []
            for lot in self.changed.values():
                (points if lot.kind == POINTS else stored).append(lot)
            if points:
                lots = self._pool(lots, points)
            if stored:
                purse = self._pool(purse, stored)
        return Card(c.pan, c.coalition, self.status, c.enrolled_on, lots, purse, c.pin_ref,
                    self.pin_tries, self.club, c.virtual)

    def _pool(self, pool: list[Lot], mine: list[Lot]) -> list[Lot]:
        """`pool` with the lots of `mine` (changed lots of its kind) in their places, new ones
        last, and without the lots left at 0."""
        changed = self.changed
        seen = set()
        out = []
        for lot in pool:
            seen.add(lot.id)
            now = changed.get(lot.id, lot)
            if now.remaining != 0:
                out.append(now)
        for lot in mine:
            if lot.id not in seen and lot.remaining != 0:
                out.append(lot)
        return out


def available_points(card: Card, day: dt.date) -> int:
    """Points a burn may use today, net of any debt (negative lots)."""
    total = 0
    for lot in card.lots:  # a loop, not sum(generator): one frame, not one resume per lot
        if lot.remaining < 0 or lot.expires_on is None or lot.expires_on > day:
            total += lot.remaining
    return total


def spendable_purse(config: Catalog, card: Card, store: Store, day: dt.date) -> list[Lot]:
    """Purse lots spendable at `store` on business day `day`: its own, those of coalition-wide
    purses, and every lot of a gift card (docs/programs.md "Gift cards"); a lot is not
    spendable from its `expires_on` on (only gift-card lots expire)."""
    coalition = config.coalitions.get(card.coalition)
    gift = coalition is not None and coalition.is_gift_card(card.pan)
    out = []
    for lot in card.purse:
        if lot.expires_on is not None and lot.expires_on <= day:
            continue
        if gift or lot.store == store.id:
            out.append(lot)
            continue
        issuer = config.stores.get(lot.store)
        if issuer is not None and issuer.stored_value and issuer.stored_value.coalition_wide:
            out.append(lot)
    return out


def over_limits(before: Card, after: Card, limits: MoneyLimits) -> str:
    """Why going from `before` to `after` passes a limit of docs/protocol.md §10 ("" when it
    does not). A card already beyond a limit (the limits were lowered) may still move back."""
    # A pool the decision left as it was (the same list) passes nothing.
    if after.lots is not before.lots \
            and passes(sums(before.lots), sums(after.lots), limits.max_points):
        return "the card's points would pass their limit"
    if after.purse is not before.purse \
            and passes(sums(before.purse), sums(after.purse), limits.max_stored_value):
        return "the card's stored value would pass its limit"
    return ""


def sums(lots: Sequence[Lot]) -> tuple[int, int]:
    """What the positive lots hold, and the debts (<= 0)."""
    positive = negative = 0
    for lot in lots:
        r = lot.remaining
        if r > 0:
            positive += r
        else:
            negative += r
    return positive, negative


def passes(before: tuple[int, int], after: tuple[int, int], bound: int) -> bool:
    """Whether (positive lots, debts) going from `before` to `after` passes `bound`: each is
    bounded on its own (positive at most `bound`, debts at least minus it), and one already
    beyond may stay there or move back, never go further. Netting one against the other
    would let a card beyond a lowered limit trade its points for debts past it."""
    (p0, n0), (p1, n1) = before, after
    return (p1 > bound and p1 > p0) or (n1 < -bound and n1 < n0)
