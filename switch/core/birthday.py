"""The birthday bonus once per customer, not per card (docs/programs.md "Birthday bonus"): an
account with two cards (a printed card and its mobile number's virtual card, or two printed
cards) gets it on one of them per birthday window.

Which cards an account holds is the journal's (`account_cards`, written by the desk and by the
switch's group commit), so an earn that may give the bonus reads them as a fact
(`Needs.birthday`, or with the account of a DE48 `MB` number) and then each card's
`Club.birthday_year` in memory, where the state holds every applied change, committed or not.
A virtual card still in memory only is found by its account's mobile number
(`State.pending_mobiles`).
"""

from __future__ import annotations

import datetime as dt

from switch.core.catalog import Store
from switch.core.codes import PC_EARN
from switch.core.entries import mobile_key
from switch.core.model import Card
from switch.core.outcome import Context
from switch.core.request import Request
from switch.core.state import State
from switch.core.text import is_digits

__all__ = ["birthday_need", "others_birthday_year"]


#: Days either side of the window a request's DE7 (the terminal's UTC clock) may be and still
#: read the account's cards: a local date a day off, and a terminal clock somewhat wrong.
_MARGIN = 3


def birthday_need(state: State, req: Request, store: Store) -> str | None:
    """The card (or, for a virtual card still in memory, the mobile key) whose account's cards
    an earn at `store` reads (None: it cannot give a birthday bonus, or the account of its
    DE48 `MB` number is read anyway, `Needs.account`)."""
    if req.pc != PC_EARN or not store.birthday_bonus:
        return None
    if req.mobile:
        key = mobile_key(store.coalition, req.mobile)
        pan = state.pending_mobiles.get(key)
        if pan is None:
            return None
        return key if _near(state.cards.get(pan), req, store) else None
    return req.pan if _near(state.cards.get(req.pan), req, store) else None


def _near(card: Card | None, req: Request, store: Store) -> bool:
    """The card's customer has a birth date and DE7 is about in its window (or not a date)."""
    club = card.club if card is not None else None
    profile = club.profile if club is not None else None
    if profile is None or profile.birth_date is None:
        return False
    de7 = req.de7
    if not is_digits(de7, 10):
        return True
    try:
        sent = dt.date(2000, int(de7[:2]), int(de7[2:4]))   # a leap year: 29 February too
    except ValueError:
        return True
    born = profile.birth_date
    start = dt.date(2000, born.month, born.day)
    after = (sent - start).days % 366
    return after <= store.birthday_window_days + _MARGIN or after >= 366 - _MARGIN


def others_birthday_year(ctx: Context, pan: str) -> int:
    """The latest birthday year a bonus was given on another card of `pan`'s account (0: none,
    no account, or the earn cannot give one)."""
    needs = ctx.facts.needs
    cards: tuple[str, ...] = ()
    key = ""
    if needs.birthday is not None:
        fact = ctx.facts.account_cards(needs.birthday)
        if fact is not None:
            cards, key = fact.cards, fact.mobile_key
    elif ctx.req.mobile and needs.account is not None:
        account = ctx.facts.account(needs.account)
        if account is not None:
            cards, key = account.cards, needs.account
    else:
        return 0
    pending = ctx.state.pending_mobiles.get(key) if key else None
    best = 0
    for other in (*cards, pending):
        if other is None or other == pan:
            continue
        card = ctx.state.cards.get(other)
        if card is not None and card.club is not None:
            best = max(best, card.club.birthday_year)
    return best
