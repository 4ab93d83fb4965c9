"""Operator commands on cards (`lps cards enroll|block|unblock`, point adjustments) as
decisions, and housekeeping (`new_state`, `prune`, `journaled`).

Operator commands go through the same journal and the same decide/apply split as terminal
traffic, so that a card's history is complete and recovery needs no second source: `decide_*`
computes the entry and the changes (raising `AdminError` for a command that cannot be carried
out, with nothing changed) and `apply` installs them. `card_command` and `adjust_command` do
both, for callers that only want the entry to persist.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from switch.core import entries as E
from switch.core import replay
from switch.core.accounts import virtual_range_of
from switch.core.apply import apply
from switch.core.calendar import business_day
from switch.core.catalog import Catalog
from switch.core.codes import RC, Kind
from switch.core.ledger import CardEdit, available_points, over_limits
from switch.core.limits import DEFAULT_LIMITS, MoneyLimits
from switch.core.luhn import luhn_ok
from switch.core.model import POINTS, Card, TerminalState
from switch.core.outcome import Changes, Decision
from switch.core.programs.club import Club, Profile
from switch.core.rules import BaseRules, RuleBook
from switch.core.state import State


class AdminError(ValueError):
    """An operator command that cannot be carried out, with the reason."""


def new_state(config: Catalog, rules: RuleBook | None = None,
              limits: MoneyLimits = DEFAULT_LIMITS) -> State:
    """An empty state with the configured terminals (none signed on)."""
    state = State(config=config, rules=rules or BaseRules(), limits=limits)
    for tid, term in config.terminals.items():
        state.terminals[tid] = TerminalState(id=tid, store=term.store)
    return state


def admin_entry(state: State, now: dt.datetime, detail: dict[str, object], *,
                kind: str = Kind.CARD_ADMIN, pan: str = "", store_id: str = "",
                coalition_id: str = "", terminal_id: str = "") -> E.Entry:
    """The journal row of an operator command, on the next journal id."""
    cfg = state.config.switch
    day = business_day(now, cfg.zone, cfg.business_day_cutover)
    return E.Entry(id=state.next_journal_id, at=now, business_day=day, kind=kind, mti="",
                   terminal_id=terminal_id, store_id=store_id, coalition_id=coalition_id,
                   pan=pan, response_code=RC.APPROVED, detail=dict(detail),
                   program_version=state.program_version)


def decide_card_command(state: State, action: str, pan: str, now: dt.datetime,
                        coalition: str | None = None) -> Decision:
    """`enroll`, `block` or `unblock` a card, as a decision (nothing changed yet)."""
    if not luhn_ok(pan):
        raise AdminError("not a Luhn-valid card number of 13-19 digits")
    cfg = state.config
    day = business_day(now, cfg.switch.zone, cfg.switch.business_day_cutover)
    card = state.cards.get(pan)
    if action == "enroll":
        if card is not None:
            raise AdminError(f"card is already enrolled in coalition {card.coalition}")
        virtual = virtual_range_of(cfg.coalitions.values(), pan)
        if virtual is not None:
            raise AdminError(f"the number is in coalition {virtual.id}'s range of virtual "
                             "cards (mobile accounts): it cannot be a printed card")
        if coalition is None:
            owners = [c.id for c in cfg.coalitions.values()
                      if any(pan.startswith(b) for b in c.card_bins)]
            if len(owners) != 1:
                raise AdminError("name the coalition (--coalition): the card's BIN is in none")
            coalition = owners[0]
        if coalition not in cfg.coalitions:
            raise AdminError(f"unknown coalition {coalition!r}")
        after = Card(pan=pan, coalition=coalition, enrolled_on=day)
    elif action in ("block", "unblock"):
        if card is None:
            raise AdminError("card is not enrolled")
        after = dataclasses.replace(card, status="blocked" if action == "block" else "active")
    else:
        raise AdminError(f"unknown card command {action!r}")
    entry = admin_entry(state, now, {"action": action}, pan=pan, coalition_id=after.coalition)
    entry.card = E.CardRow(pan, after.coalition, after.status, after.enrolled_on)
    return Decision(None, [entry], changes=Changes(journal_id=entry.id, card=after,
                                                   new_card=card is None))


def card_command(state: State, action: str, pan: str, now: dt.datetime,
                 coalition: str | None = None) -> E.Entry:
    """Decide and apply a card command; the entry to persist."""
    decision = decide_card_command(state, action, pan, now, coalition)
    apply(state, decision)
    return decision.entries[0]


def decide_profile(state: State, pan: str, profile: Profile | None) -> Decision:
    """Hold the customer profile the desk stored for the card's account (`lps customers`,
    `lps cards enroll --name ...`; None: the card has none any more) in the card's program
    state: no journal row (profiles are the accounts' tables), only the change."""
    card = state.cards.get(pan)
    if card is None:
        raise AdminError("card is not enrolled in the running switch")
    club = card.club.copied() if card.club is not None else Club()
    club.profile = profile
    return Decision(None, changes=Changes(card=dataclasses.replace(card, club=club)))


# -- point adjustments (console maker-checker, or an operator) --------------------------------
# A credit is a new points lot of the store that grants it (its liability, expiring like an
# earn); a debit draws the card's usable lots in the switch's burn order and is refused beyond
# the available points. The entry is a `card_admin` row with `detail.action = "adjust"`, so
# recovery, the invariants and settlement read it like the other operator commands.

MAX_ADJUST = 10_000_000


def decide_adjust(state: State, pan: str, points: int, store: str, reason: str,
                  actor: str, now: dt.datetime) -> Decision:
    """Credit (`points` > 0) or debit (< 0) a card's points, as a decision."""
    if not luhn_ok(pan):
        raise AdminError("not a Luhn-valid card number of 13-19 digits")
    if points == 0 or abs(points) > MAX_ADJUST:
        raise AdminError(f"points must be a non-zero whole number within +-{MAX_ADJUST:,}")
    card = store_card(state, pan, store)
    cfg = state.config
    if not reason.strip():
        raise AdminError("an adjustment needs a reason")
    day = business_day(now, cfg.switch.zone, cfg.switch.business_day_cutover)
    have = available_points(card, day)
    if points < 0 and have < -points:
        raise AdminError(f"the card has {have} points available, fewer than {-points}")
    edit = CardEdit(card)
    if points > 0:
        coalition = cfg.coalitions[card.coalition]
        expires = day + dt.timedelta(days=coalition.points_expire_after_days)
        edit.create(state.next_lot_id, POINTS, store, card.coalition, day, expires, points)
    elif edit.consume(state.rules.burn_order(card.lots, day), -points):
        raise AssertionError("consumed more than was available")
    after = edit.after()
    why = over_limits(card, after, state.limits)
    if why:
        raise AdminError(why)
    entry = admin_entry(state, now, {"action": "adjust", "reason": reason, "by": actor},
                        pan=pan, store_id=store, coalition_id=card.coalition)
    entry.new_lots, entry.lot_deltas = edit.new_lots, edit.deltas
    entry.points = edit.points
    return Decision(None, [entry], changes=Changes(
        journal_id=entry.id, card=after,
        lots_upto=state.next_lot_id + 1 if edit.new_lots else None))


def store_card(state: State, pan: str, store: str) -> Card:
    """The enrolled card `pan`, where `store` is a store of its coalition (the one that bears
    what an operator's credit gives), or `AdminError`."""
    card = state.cards.get(pan)
    if card is None:
        raise AdminError("card is not enrolled")
    st = state.config.stores.get(store)
    if st is None or st.coalition != card.coalition:
        raise AdminError(f"store {store!r} is not a store of the card's coalition "
                         f"{card.coalition}")
    return card


def adjust_command(state: State, pan: str, points: int, store: str, reason: str,
                   actor: str, now: dt.datetime) -> E.Entry:
    """Decide and apply an adjustment; the entry to persist."""
    decision = decide_adjust(state, pan, points, store, reason, actor, now)
    apply(state, decision)
    return decision.entries[0]


# -- housekeeping -------------------------------------------------------------------------------


def journaled(state: State, entries: list[E.Entry]) -> None:
    """`entries` are committed: decisions read them from the journal from now on.

    The shell calls this after each group commit, so `State.uncommitted` holds only what is
    in flight (bounded by `max_inflight`); the committed records over `replay_memory` leave
    memory (switch/core/replay.py).
    """
    for entry in entries:
        state.uncommitted.pop(entry.id, None)
        if entry.original_id is not None:
            state.naming.pop(entry.id, None)
        if entry.id > state.durable_upto:
            state.durable_upto = entry.id
        link = entry.account
        if link is not None and state.pending_mobiles.get(link.key) == link.pan:
            del state.pending_mobiles[link.key]
    replay.forget_over_bound(state)


def prune(state: State, now: dt.datetime) -> int:
    """Forget requests older than the idempotency window; returns the number forgotten.

    Tombstones older than every kept request go too. Cached batch totals go unless an
    uncommitted entry counted in them (the journal's `batch_totals` does not hold that yet):
    the next decision that names a batch reads it back (`Needs.totals`). The cards read since
    the last prune are packed again (switch/core/card_store.py): the shell runs this between
    two decisions, so no decision holds one of them.
    """
    cfg = state.config.switch
    today = business_day(now, cfg.zone, cfg.business_day_cutover)
    horizon = today - dt.timedelta(days=cfg.idempotency_days + 1)
    gone = replay.forget_before(state, horizon.toordinal())
    state.remember_from = max(state.remember_from, horizon)
    if state.forgot_day is not None and state.forgot_day < state.remember_from:
        state.forgot_day = None  # what left memory has left the window too
    if state.forgot_tombstone_day is not None \
            and state.forgot_tombstone_day < state.remember_from:
        state.forgot_tombstone_day = None
    live = {(e.totals.terminal_id, e.totals.batch) for e in state.uncommitted.values()
            if e.totals is not None}
    for key in [k for k in state.totals if k not in live]:
        del state.totals[key]
    state.cards.pack()
    return gone
