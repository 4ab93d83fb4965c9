"""The service desk (docs/console.md, "The service desk"): one search box for a mobile, a name
or a card; a customer's page; enrolling a customer. Replacing a lost card is
`lps.console.replacements`.

Customers are read and enrolled through `switch.customers.Desk` (as `lps customers` does: the
same validation); money moves only through the running switch (`gateway`). Every step is
audited.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from lps.console import audit, cards, gateway, queries, switch_words
from lps.console.i18n import text_refusal, without_card_number
from lps.console.messages import N_, SYSTEM, Label, Refusal, Verbatim
from lps.console.settle import date_refusal
from switch.config import Config
from switch.core.luhn import luhn_ok, mask_pan
from switch.core.mobile import MobileError, mask_mobile, normalize_mobile
from switch.core.text import TextError, is_digits, normalize_text, to_ascii_digits
from switch.customers.desk import CustomerView, Desk, Found, open_desk
from switch.customers.inputs import NAME_MAX, CustomerError, EnrolForm, InvalidValue
from switch.i18n import DateError, parse_date
from switch.journal import JournalError
from switch.journal.customers import AccountRow, HistoryRow

_SEPARATORS = str.maketrans("", "", " -()\u200c\u00a0")
#: A card's state on a customer's page besides `cards.STATES`: linked, never used.
STATES = (N_("not enrolled"), N_("name"), N_("card"))


class DeskError(Refusal):
    """Bad input or a refused desk action, with a message fit to show."""


@contextlib.contextmanager
def desk(config: Config) -> Iterator[Desk]:
    """The customers' desk over the switch's database; an unreadable database is said so."""
    try:
        with open_desk(config) as d:
            yield d
    except JournalError as exc:
        raise switch_words.database(str(exc)) from None



# -- search ---------------------------------------------------------------------------------


def find(config: Config, text: str, scope: queries.Scope = queries.EVERYTHING) -> list[Found]:
    """Accounts a typed mobile (any form, Persian digits), card number or name finds; a number
    too short to be either asks for more (nothing is searched). A scoped reader finds only
    customers with a card that has activity at their stores (`queries.sees_card`)."""
    bare = to_ascii_digits(text).strip().translate(_SEPARATORS)
    if not bare:
        raise DeskError(N_("type a mobile number, a name or a card number"))
    if is_digits(bare.removeprefix("+")):
        try:
            normalize_mobile(bare)
        except MobileError:
            if len(bare) < 13:
                raise DeskError(N_("{n} digits are too few to find one customer: type the whole "
                                   "mobile number (09121234567) or the whole card number (13-19 "
                                   "digits)"), n=len(bare)) from None
            if len(bare) > 19 or not luhn_ok(bare):
                raise DeskError(N_("{n} digits are not a card number (13-19 digits that pass "
                                   "the Luhn check) nor a mobile number"), n=len(bare)) from None
    else:
        try:
            name = normalize_text(text, "the name", max_length=NAME_MAX)
        except TextError as exc:
            raise text_refusal(exc, "the name", N_("the name")) from None
        if len(name.replace("\u200c", "").replace(" ", "")) < 2:
            raise DeskError(N_("type at least two letters of the name"))
    with desk(config) as d:
        try:
            found = d.search(text)
        except CustomerError as exc:  # the checks above leave none; said as the desk's own
            raise DeskError(N_("{message}"), message=Verbatim(str(exc)[:300], SYSTEM)) from None
        if not scope.limited:  # the whole coalition: a customer with no card yet too
            return found
        return [f for f in found
                if any(queries.sees_card(d.reader, c.pan, scope)
                       for c in d.customers.cards(f.account.id))]


def masked_mobile(account: AccountRow) -> str:
    return mask_mobile(account.mobile) if account.mobile else ""


# -- a customer's page ----------------------------------------------------------------------

#: What a request was, as a noun (a declined one, a cancelled one).
_NOUNS = {
    "earn": N_("a purchase"), "advice": N_("a purchase"), "redeem": N_("paying with points"),
    "inquiry": N_("a balance inquiry"), "return": N_("a return"),
    "topup": N_("a purse top-up"), "sv_purchase": N_("paying from the purse"),
    "stamp": N_("a stamp reward"), "coupon": N_("a coupon"),
}
_DONE = {
    "earn": N_("a purchase: points earned"),
    "advice": N_("a purchase sent later by the terminal: points earned"),
    "redeem": N_("paid with points"), "inquiry": N_("asked for the balance"),
    "return": N_("returned a purchase: points taken back"), "topup": N_("topped up the purse"),
    "sv_purchase": N_("paid from the purse"), "stamp": N_("took a stamp reward"),
    "batch_close": N_("closed a terminal's batch"), "coupon": N_("used a coupon"),
}
_OPERATOR = {
    "enroll": N_("the card was enrolled"), "block": N_("an operator blocked the card"),
    "unblock": N_("an operator unblocked the card"),
    "replace": N_("the card was blocked as lost and its points moved to a new card"),
    "replaced": N_("a lost card's points moved to this card"),
    "set": N_("the card's PIN was set"), "reset": N_("the card's PIN was reset"),
    "purse_credit": N_("the club gave gift credit to the purse"),
}


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the customer's history: local time, store, card, what (in words)."""

    at: dt.datetime
    store: str
    card: str
    what: Refusal
    reason: str
    points: int
    stored_value: int
    declined: bool


def in_words(h: HistoryRow) -> Refusal:
    r = h.row
    if r.response_code not in ("", "00"):
        return Refusal(N_("{what} was declined"),
                       what=Label(_NOUNS.get(r.kind, N_("a request"))))
    if r.kind == "reversal":
        return Refusal(N_("the terminal cancelled {what}"),
                       what=Label(_NOUNS.get(r.original_kind, N_("a request"))))
    if r.kind == "card_admin":
        if h.action == "adjust":
            return Refusal(N_("an operator gave points") if r.points > 0
                           else N_("an operator took points"))
        return Refusal(_OPERATOR.get(h.action, N_("an operator changed the card")))
    return Refusal(_DONE.get(r.kind, N_("a request")))


@dataclass(frozen=True, slots=True)
class CustomerPage:
    view: CustomerView
    history: list[Event]


#: How many of a customer's newest history rows a scoped reader's page picks its rows from.
_SCOPED_HISTORY = 1000


def customer(config: Config, account_id: int, now: dt.datetime,
             scope: queries.Scope = queries.EVERYTHING, history: int = 50) -> CustomerPage:
    """The customer's page; a scoped reader's only as far as their stores go
    (`queries.desk_customer`), and a customer of other stores only is refused as one that
    does not exist would be, so a scoped reader cannot probe for account numbers."""
    with desk(config) as d:
        try:
            view = d.view(account_id, now, history=0)
        except CustomerError:
            raise _no_customer(account_id, scope) from None
        pans = [c.pan for c in view.cards]
        if scope.limited:
            rows = queries.desk_history(d.customers.history(pans, _SCOPED_HISTORY), scope)
            rows = rows[:history]
        else:
            rows = d.customers.history(pans, history)
        shown = queries.desk_customer(d.reader, config, view, scope, d.today(now), rows)
    if shown is None:
        raise _no_customer(account_id, scope)
    view = shown
    zone = config.switch.zone
    events = []
    for h in rows:
        r = h.row
        store = config.stores.get(r.store_id)
        at = (r.at or dt.datetime.combine(r.business_day, dt.time(), dt.UTC)).astimezone(zone)
        declined = r.response_code not in ("", "00")
        events.append(Event(at, store.name if store is not None else r.store_id,
                            mask_pan(r.pan), in_words(h), h.reason,
                            0 if declined else r.points, 0 if declined else r.sv, declined))
    return CustomerPage(view, events)


def _no_customer(account_id: int, scope: queries.Scope) -> DeskError:
    if scope.limited:
        return DeskError(N_("customer account #{id} has no activity at your stores"),
                         id=account_id)
    return DeskError(N_("no customer account #{id}"), id=account_id)


# -- enrolment ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Enrolment:
    name: str
    mobile: str
    birth_date: str
    card: str
    sms: bool


def parse_enrolment(name: str, mobile: str, birth_date: str, card: str, sms: bool,
                    today: dt.date) -> Enrolment:
    """Each field checked as `lps customers enroll` checks it, with the reason in words."""
    try:
        name = without_card_number(normalize_text(name, "the name", max_length=NAME_MAX),
                                   N_("the name"))
    except TextError as exc:
        raise text_refusal(exc, "the name", N_("the name")) from None
    try:
        mobile = normalize_mobile(mobile)
    except MobileError:
        raise DeskError(N_("{typed} is not a mobile number: type it like 09121234567 or "
                           "+989121234567"), typed=mobile.strip()[:20]) from None
    if birth_date.strip():
        try:
            day = parse_date(birth_date)
        except DateError as exc:
            raise date_refusal(exc) from None
        if day > today or day.year < 1900:
            raise DeskError(N_("the birth date {date} is not a plausible date"), date=day)
        birth_date = day.isoformat()
    pan = cards.check_pan(card) if card.strip() else ""
    return Enrolment(name, mobile, birth_date.strip(), pan, sms)


_CONFLICT = N_("mobile {mobile} belongs to customer account #{id}")


def enrol(cdb: sqlite3.Connection, config: Config, who: str, form: Enrolment,
          now: dt.datetime) -> AccountRow:
    """Enrol the customer (and their card, through the switch, when it is new); audited."""
    enrol_form = EnrolForm(form.name, form.mobile, birth_date=form.birth_date or None,
                           cards=(form.card,) if form.card else (), sms=form.sms,
                           source="console")
    with desk(config) as d:
        try:
            d.new_account(EnrolForm(form.name, form.mobile, birth_date=form.birth_date or None,
                                    sms=form.sms, source="console"), now)
        except InvalidValue as exc:
            raise DeskError(N_("{message}"), message=Verbatim(str(exc)[:300], SYSTEM)) from None
        except CustomerError:
            holder = d.customers.by_mobile(form.mobile, None)
            raise DeskError(_CONFLICT, mobile=mask_mobile(form.mobile),
                            id=holder[0].id if holder else 0) from None
        new_card = bool(form.card) and d.customers.card_row(form.card) is None
        owner = d.customers.owner(form.card) if form.card else None
    if owner is not None:
        raise DeskError(N_("card {card} belongs to customer account #{id}"),
                        card=mask_pan(form.card), id=owner)
    if new_card:
        gateway.card_status(config, "enroll", form.card)
    with desk(config) as d:
        try:
            row = d.enroll(enrol_form, now)
        except CustomerError as exc:
            raise DeskError(N_("{message}"), message=Verbatim(str(exc)[:300], SYSTEM)) from None
    audit.append(cdb, audit.stamp(now), f"staff:{who}", "customer.enroll",
                 f"account:{row.id}", None,
                 {"cards": [mask_pan(form.card)] if form.card else [],
                  "enrolled_card": new_card, "sms": form.sms})
    if form.card:
        # The account exists now; a switch that does not load the profile at once reads it
        # at its next start (docs/customers.md), so that is no reason to say it failed.
        with contextlib.suppress(Refusal):
            gateway.reload_profile(config, form.card)
    return row
