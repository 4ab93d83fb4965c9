"""A point adjustment as a journal entry, decided like the switch decides (pure: no I/O).

Kept apart so the switch's admin socket can dispatch `{"cmd": "adjust"}` to the same function
(`switch/server.py` does not yet: see docs/console.md). A credit is a new points lot of the
store that grants it (its liability, expiring like an earn); a debit draws the card's usable
lots in the switch's burn order and is refused beyond the available points. The entry is a
`card_admin` row with `detail.action = "adjust"`, so recovery, the invariants and settlement
read it like the other operator commands (no inter-store flow: nothing was bought).
"""

from __future__ import annotations

import datetime as dt

from switch.core import entries as E
from switch.core.admin import AdminError
from switch.core.authorizer import available_points
from switch.core.calendar import business_day
from switch.core.luhn import luhn_ok
from switch.core.model import POINTS, Lot, State

MAX_ADJUST = 10_000_000


def adjust_command(state: State, pan: str, points: int, store: str, reason: str,
                   actor: str, now: dt.datetime) -> E.Entry:
    """Credit (`points` > 0) or debit (< 0) a card's points; returns the entry to persist."""
    if not luhn_ok(pan):
        raise AdminError("not a Luhn-valid card number of 13-19 digits")
    if points == 0 or abs(points) > MAX_ADJUST:
        raise AdminError(f"points must be a non-zero whole number within +-{MAX_ADJUST:,}")
    card = state.cards.get(pan)
    if card is None:
        raise AdminError("card is not enrolled")
    cfg = state.config
    st = cfg.stores.get(store)
    if st is None or st.coalition != card.coalition:
        raise AdminError(f"store {store!r} is not a store of the card's coalition "
                         f"{card.coalition}")
    if not reason.strip():
        raise AdminError("an adjustment needs a reason")
    day = business_day(now, cfg.switch.zone, cfg.switch.business_day_cutover)
    have = available_points(card, day)
    if points < 0 and have < -points:
        raise AdminError(f"the card has {have} points available, fewer than {-points}")
    entry = E.Entry(id=state.new_journal_id(), at=now, business_day=day, kind=E.CARD_ADMIN,
                    mti="", pan=pan, store_id=store, coalition_id=card.coalition,
                    response_code="00",
                    detail={"action": "adjust", "reason": reason, "by": actor})
    if points > 0:
        coalition = cfg.coalitions[card.coalition]
        expires = day + dt.timedelta(days=coalition.points_expire_after_days)
        lot = Lot(id=state.new_lot_id(), pan=pan, kind=POINTS, store=store,
                  coalition=card.coalition, earned_on=day, expires_on=expires, initial=points,
                  remaining=points)
        entry.new_lots.append(E.NewLot(lot.id, pan, POINTS, store, card.coalition, day, expires,
                                       points))
        entry.lot_deltas.append(E.LotDelta(lot.id, pan, POINTS, store, points))
        entry.points = points
        card.lots.append(lot)
        return entry
    need = -points
    for lot in state.rules.burn_order(card.lots, day):
        if need <= 0:
            break
        take = min(need, lot.remaining)
        if take > 0:
            lot.remaining -= take
            entry.lot_deltas.append(E.LotDelta(lot.id, pan, POINTS, lot.store, -take))
            entry.points -= take
            need -= take
    card.lots[:] = [x for x in card.lots if x.remaining != 0]
    return entry
