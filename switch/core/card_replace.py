"""Replacing a lost card (`lps cards replace OLD NEW`, the console's service desk): the old
card is blocked and every live lot moves to the new card, each keeping its issuing store, its
earning day and its expiry, so that no store's liability changes (docs/switch.md, "Replacing a
lost card").

One operation, two journal rows committed together: a `card_admin` row of the old card
(`detail.action = "replace"`, its lots emptied, the card blocked) and one of the new card
(`detail.action = "replaced"`, enrolled with the same lots re-issued). One row per card keeps the
journal's per-card invariant (a card's lots add up to its rows' points and stored value,
docs/switch.md "Invariants"); settlement reads `card_admin` rows as moving no value between
stores. The program state (tier, spend, stamps) goes to the new card as well.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from switch.core.accounts import virtual_range_of
from switch.core.admin import AdminError, admin_entry
from switch.core.apply import apply
from switch.core.calendar import business_day
from switch.core.entries import CardRow, Entry
from switch.core.ledger import CardEdit
from switch.core.luhn import luhn_ok, mask_pan
from switch.core.model import Card, Lot
from switch.core.outcome import Changes, Decision
from switch.core.programs.club import Club, ClubRows
from switch.core.state import State
from switch.core.text import TextError, normalize_text

MAX_REASON = 200


@dataclass(frozen=True, slots=True)
class Replacement:
    """The two decisions of one replacement, applied in order and committed together."""

    old: Decision
    new: Decision
    #: Points and stored value moved (the console's maker-checker threshold reads them).
    points: int
    stored_value: int
    lots: int

    @property
    def entries(self) -> list[Entry]:
        return [*self.old.entries, *self.new.entries]


def _live(lot: Lot, day: dt.date) -> bool:
    """A lot the customer can still use: one that has lapsed stays where it lapsed (its
    breakage is settlement's, docs/settlement.md)."""
    return lot.expires_on is None or lot.expires_on > day


def _check(state: State, old_pan: str, new_pan: str) -> Card:
    for pan in (old_pan, new_pan):
        if not luhn_ok(pan):
            raise AdminError(f"{mask_pan(pan) if len(pan) >= 13 else 'the number'} is not a "
                             "Luhn-valid card number of 13-19 digits")
    if old_pan == new_pan:
        raise AdminError("the new card is the card being replaced")
    card = state.cards.get(old_pan)
    if card is None:
        raise AdminError(f"card {mask_pan(old_pan)} is not enrolled")
    if card.virtual:
        raise AdminError(f"card {mask_pan(old_pan)} is a mobile account's virtual card: it is "
                         "never lost")
    if new_pan in state.cards:
        raise AdminError(f"card {mask_pan(new_pan)} is already in use: a replacement must be "
                         "a card never enrolled")
    coalitions = state.config.coalitions
    coalition = coalitions[card.coalition]
    gift_bins = coalition.gift_cards.bins if coalition.gift_cards is not None else ()
    if not new_pan.startswith((*coalition.card_bins, *gift_bins)):
        raise AdminError(f"card {mask_pan(new_pan)} is outside coalition {coalition.id}'s "
                         "card BINs")
    if virtual_range_of(coalitions.values(), new_pan) is not None:
        raise AdminError(f"card {mask_pan(new_pan)} is in the range of virtual cards (mobile "
                         "accounts): it cannot be a printed card")
    if coalition.is_gift_card(old_pan) != coalition.is_gift_card(new_pan):
        raise AdminError("a gift card is replaced by a gift card, a loyalty card by a loyalty "
                         "card (their purses are spent under different rules)")
    return card


def decide_replace(state: State, old_pan: str, new_pan: str, reason: str, actor: str,
                   now: dt.datetime) -> Replacement:
    """Block `old_pan` and move its live lots to `new_pan` (enrolled by it), as two decisions;
    `AdminError` with nothing changed when it cannot be done."""
    try:
        reason = normalize_text(reason, "the reason", max_length=MAX_REASON)
    except TextError as exc:
        raise AdminError(f"a replacement needs a reason: {exc}") from None
    card = _check(state, old_pan, new_pan)
    cfg = state.config.switch
    day = business_day(now, cfg.zone, cfg.business_day_cutover)
    moving = sorted((lot for lot in (*card.lots, *card.purse) if _live(lot, day)),
                    key=lambda lot: lot.id)
    owed = [lot for lot in moving if lot.remaining < 0]
    if owed:
        raise AdminError(f"card {mask_pan(old_pan)} owes {-sum(lot.remaining for lot in owed)} "
                         "on a reversed earn already spent: a debt cannot move to a new card; "
                         "credit it with an adjustment of its store first")
    detail: dict[str, object] = {"action": "replace", "to": new_pan, "reason": reason,
                                 "by": actor}
    old_edit = CardEdit(card)
    for lot in moving:
        old_edit.move(lot, -lot.remaining)
    old_edit.status = "blocked"
    old_after = old_edit.after()
    old_after.club = _emptied(card.club)
    old_entry = admin_entry(state, now, detail, pan=old_pan, coalition_id=card.coalition)
    old_entry.card = CardRow(old_pan, card.coalition, "blocked", card.enrolled_on)
    old_entry.lot_deltas, old_entry.points, old_entry.sv = (old_edit.deltas, old_edit.points,
                                                            old_edit.sv)
    old_entry.club = _rows(old_pan, old_after.club, card.club, spend=False)
    old_changes = Changes(journal_id=old_entry.id, card=old_after)

    new_card = Card(new_pan, card.coalition, "active", day)
    new_edit = CardEdit(new_card, new=True)
    lot_id = state.next_lot_id
    for lot in moving:
        new_edit.create(lot_id, lot.kind, lot.store, lot.coalition, lot.earned_on,
                        lot.expires_on, lot.remaining)
        lot_id += 1
    new_after = new_edit.after()
    new_after.club = _carried(card.club)
    new_entry = dataclasses.replace(
        admin_entry(state, now, {"action": "replaced", "from": old_pan, "reason": reason,
                                 "by": actor}, pan=new_pan, coalition_id=card.coalition),
        id=old_entry.id + 1)
    new_entry.card = CardRow(new_pan, card.coalition, "active", day)
    new_entry.new_lots, new_entry.lot_deltas = new_edit.new_lots, new_edit.deltas
    new_entry.points, new_entry.sv = new_edit.points, new_edit.sv
    new_entry.club = _rows(new_pan, new_after.club, card.club, spend=True)
    new_changes = Changes(journal_id=new_entry.id, card=new_after, new_card=True,
                          lots_upto=lot_id if moving else None)
    return Replacement(Decision(None, [old_entry], changes=old_changes),
                       Decision(None, [new_entry], changes=new_changes),
                       points=-old_edit.points, stored_value=-old_edit.sv, lots=len(moving))


def _carried(club: Club | None) -> Club | None:
    """The program state the new card starts with: the old card's (its profile is the
    account's, read from the customers' tables)."""
    if club is None:
        return None
    carried = club.copied()
    carried.profile, carried.roll = None, None
    return carried


def _emptied(club: Club | None) -> Club | None:
    """The old card's program state once its stamps and rewards went to the new card."""
    if club is None or not (club.stamps or club.rewards):
        return club
    left = club.copied()
    left.stamps = dict.fromkeys(club.stamps, 0)
    left.rewards = dict.fromkeys(club.rewards, 0)
    for store in club.rewards:
        left.stamps.setdefault(store, 0)
    for store in club.stamps:
        left.rewards.setdefault(store, 0)
    return left


def _rows(pan: str, club: Club | None, source: Club | None, spend: bool) -> ClubRows | None:
    """The program rows to write for `pan` (absolute values: recovery reads them back)."""
    if club is None or source is None or (club is source):
        return None
    stores = sorted(set(club.stamps) | set(club.rewards))
    return ClubRows(pan=pan, tier=club.tier, tier_day=club.tier_day,
                    earned_day=club.earned_day, earned=club.earned,
                    birthday_year=club.birthday_year,
                    spend=tuple(club.spend.items()) if spend else (),
                    stamps=tuple((s, club.stamps.get(s, 0), club.rewards.get(s, 0))
                                 for s in stores))


def apply_replacement(state: State, replacement: Replacement) -> None:
    """Apply both decisions (the shell then commits `replacement.entries` in one append)."""
    apply(state, replacement.old)
    apply(state, replacement.new)


def replace_command(state: State, old_pan: str, new_pan: str, reason: str, actor: str,
                    now: dt.datetime) -> list[Entry]:
    """Decide and apply a replacement; the entries to persist, in one append."""
    replacement = decide_replace(state, old_pan, new_pan, reason, actor, now)
    apply_replacement(state, replacement)
    return replacement.entries


__all__ = ["MAX_REASON", "Replacement", "apply_replacement", "decide_replace",
           "replace_command"]
