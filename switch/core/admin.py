"""Operator commands on cards (`lps cards enroll|block|unblock`) and housekeeping, as decisions.

They go through the same journal as terminal traffic so that a card's history is complete and
recovery needs no second source.
"""

from __future__ import annotations

import datetime as dt

from switch.config import Config
from switch.core import entries as E
from switch.core.authorizer import available_points
from switch.core.calendar import business_day
from switch.core.luhn import luhn_ok
from switch.core.model import POINTS, Card, Lot, State, TerminalState
from switch.core.rules import BaseRules, RuleBook


class AdminError(ValueError):
    """An operator command that cannot be carried out, with the reason."""


def new_state(config: Config, rules: RuleBook | None = None) -> State:
    """An empty state with the configured terminals (none signed on)."""
    state = State(config=config, rules=rules or BaseRules())
    for tid, term in config.terminals.items():
        state.terminals[tid] = TerminalState(id=tid, store=term.store)
    return state


def card_command(state: State, action: str, pan: str, now: dt.datetime,
                 coalition: str | None = None) -> E.Entry:
    """`enroll`, `block` or `unblock` a card; returns the journal entry to persist."""
    if not luhn_ok(pan):
        raise AdminError(f"{pan!r} is not a Luhn-valid card number of 13-19 digits")
    cfg = state.config
    day = business_day(now, cfg.switch.zone, cfg.switch.business_day_cutover)
    card = state.cards.get(pan)
    if action == "enroll":
        if card is not None:
            raise AdminError(f"card is already enrolled in coalition {card.coalition}")
        if coalition is None:
            owners = [c.id for c in cfg.coalitions.values()
                      if any(pan.startswith(b) for b in c.card_bins)]
            if len(owners) != 1:
                raise AdminError("name the coalition (--coalition): the card's BIN is in none")
            coalition = owners[0]
        if coalition not in cfg.coalitions:
            raise AdminError(f"unknown coalition {coalition!r}")
        card = Card(pan=pan, coalition=coalition, enrolled_on=day)
        state.cards[pan] = card
    elif action in ("block", "unblock"):
        if card is None:
            raise AdminError("card is not enrolled")
        card.status = "blocked" if action == "block" else "active"
    else:
        raise AdminError(f"unknown card command {action!r}")
    entry = E.Entry(
        id=state.new_journal_id(), at=now, business_day=day, kind=E.CARD_ADMIN, mti="",
        pan=pan, coalition_id=card.coalition, response_code="00", detail={"action": action},
    )
    entry.card = E.CardRow(pan, card.coalition, card.status, card.enrolled_on)
    return entry


def prune(state: State, now: dt.datetime) -> int:
    """Forget transactions older than the idempotency window; returns the number forgotten."""
    cfg = state.config.switch
    today = business_day(now, cfg.zone, cfg.business_day_cutover)
    horizon = today - dt.timedelta(days=cfg.idempotency_days + 1)
    # Batch totals are durable (`batch_totals`): the shell reads a batch back when a request
    # names it again. Keep those a remembered transaction uses, counting the ones forgotten
    # below: a reversal decided but not yet committed counts in its original's batch, and the
    # original may be among them (an hour later, at the next prune, it is committed).
    live = {(t.key[0], t.batch) for t in state.txns.values()}
    old = [k for k, t in state.txns.items() if t.business_day < horizon]
    for k in old:
        del state.txns[k]
    # Journal IDs grow with time: a tombstone older than every kept transaction is stale too.
    oldest = min((t.journal_id for t in state.txns.values()), default=state.next_journal_id)
    for k in [k for k, jid in state.tombstones.items() if jid < oldest]:
        del state.tombstones[k]
    # Older earns are read back from the journal when a return names them (SqliteStore.load_earn).
    for rrn in [r for r, t in state.by_rrn.items() if t.business_day < horizon]:
        del state.by_rrn[rrn]
    for key in [k for k in state.totals if k not in live]:
        del state.totals[key]
    return len(old)


# -- point adjustments (console maker-checker, or an operator) --------------------------------
# A credit is a new points lot of the store that grants it (its liability, expiring like an
# earn); a debit draws the card's usable lots in the switch's burn order and is refused beyond
# the available points. The entry is a `card_admin` row with `detail.action = "adjust"`, so
# recovery, the invariants and settlement read it like the other operator commands.

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
