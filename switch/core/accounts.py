"""Mobile-number accounts on the wire: the card behind DE48 `MB` (docs/protocol.md §3,
docs/customers.md).

A POS may name a customer by a mobile number instead of a card. The switch then works on the
account's virtual card: a Luhn-valid number in the coalition's virtual range
(`[coalition.X.mobile]`), enrolled on the account's first use, never printed and never sent
back (a reply echoes only the fields the request carried). Everything after that is a card's
ordinary path, so lots, reversals, settlement and the journal see a card like any other.

Which card a number names is the journal's (`Needs.account`, read right before the decision),
except for a virtual card an uncommitted entry made (`State.pending_mobiles`): the journal is
the one place a desk's enrolment, a change of number or an erasure shows, so nothing here can
go stale.
"""

from __future__ import annotations

from collections.abc import Iterable

from switch.core.catalog import Coalition
from switch.core.codes import RC
from switch.core.entries import AccountLink, CardRow, Entry, mobile_key
from switch.core.facts import AccountFact
from switch.core.ledger import CardEdit
from switch.core.luhn import luhn_complete
from switch.core.model import Card
from switch.core.outcome import Context
from switch.core.programs.club import Club, Profile
from switch.core.request import Request
from switch.core.state import State

__all__ = ["account_need", "mobile_card", "named_pan", "next_virtual", "virtual_range_of"]


def account_need(state: State, req: Request, store_id: str) -> str | None:
    """The mobile number's account a request at `store_id` reads from the journal (its
    `mobile_key`), None when it names a card or its virtual card is still in memory."""
    if not req.mobile:
        return None
    coalition = state.config.coalition_of_store(store_id)
    if coalition.mobile is None:
        return None
    key = mobile_key(coalition.id, req.mobile)
    return None if key in state.pending_mobiles else key


def _known(ctx: Context) -> tuple[str, AccountFact | None]:
    """The virtual card the request's mobile number already has ("" none), and its account
    as the journal holds it (None: in memory, or nobody's number)."""
    key = mobile_key(ctx.coalition.id, ctx.req.mobile)
    pending = ctx.state.pending_mobiles.get(key)
    if pending is not None:
        return pending, None
    fact = ctx.facts.account(key)
    return (fact.virtual_pan if fact is not None else ""), fact


def named_pan(ctx: Context) -> str:
    """The card number a request names: DE2/DE35, or the virtual card of DE48 `MB` ("" when
    that number has none)."""
    if not ctx.req.mobile:
        return ctx.req.pan
    if ctx.coalition.mobile is None:
        return ""
    return _known(ctx)[0]


def mobile_card(ctx: Context, entry: Entry) -> tuple[CardEdit | None, RC | None]:
    """The virtual card of the account DE48 `MB` names, enrolled by this request when the
    account has none yet (a number nobody has is enrolled only where the coalition lets a
    POS enrol by mobile), or the decline code: `57` where the coalition takes no mobile
    numbers or its virtual range is full, `14` for a number nobody has."""
    coalition = ctx.coalition
    if coalition.mobile is None:
        return None, RC.NOT_PERMITTED_CARD
    pan, fact = _known(ctx)
    if pan:
        card = ctx.state.cards.get(pan)
        if card is None:
            raise AssertionError("a mobile account's virtual card is not enrolled")
        entry.pan = pan
        return CardEdit(card), None
    if fact is None and not coalition.mobile.enroll:
        return None, RC.INVALID_CARD
    made = next_virtual(ctx.state, coalition)
    if made is None:
        return None, RC.NOT_PERMITTED_CARD
    pan, serial = made
    # A number nobody had becomes an account with no name: its profile is what recovery
    # reads back from `accounts` for it, so the live card and a recovered one are the same.
    profile = fact.profile if fact is not None else Profile(
        name="", phone=ctx.req.mobile, birth_date=None, enrolled_at=ctx.now)
    card = Card(pan, coalition.id, enrolled_on=ctx.day,
                club=Club(profile=profile) if profile is not None else None, virtual=True)
    entry.pan = pan
    entry.card = CardRow(pan, coalition.id, card.status, card.enrolled_on)
    entry.account = AccountLink(coalition.id, ctx.req.mobile, pan, serial)
    return CardEdit(card, new=True), None


def next_virtual(state: State, coalition: Coalition) -> tuple[str, int] | None:
    """The next free virtual card number of `coalition` and its serial; None: the range is
    full."""
    rng = coalition.mobile
    assert rng is not None
    width = rng.length - len(rng.virtual_bin) - 1
    serial = state.virtual_next.get(coalition.id, 1)
    while serial < 10 ** width:
        pan = luhn_complete(f"{rng.virtual_bin}{serial:0{width}d}")
        if pan not in state.cards:
            return pan, serial
        serial += 1
    return None


def virtual_range_of(coalitions: Iterable[Coalition], pan: str) -> Coalition | None:
    """The coalition whose virtual range `pan` lies in (None: a printable card number)."""
    for c in coalitions:
        if c.mobile is not None and pan.startswith(c.mobile.virtual_bin):
            return c
    return None
