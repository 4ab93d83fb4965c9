"""The service desk's operations on customer accounts (docs/customers.md): search, a
customer's page (profile, cards, balances, lots, history in words), enrolment, linking cards,
export and erasure. Typed results for the console and `lps customers`; nothing is printed.

Profile data is written here through the journal package's `Customers` tables; a card's money
(lots, journal rows) is never written here: enrolling a card is the switch's, and the caller
does it first (`lps customers enroll --card`). After a profile write, the caller tells a running
switch to reload the profiles of `touched` cards (the admin socket's `profile` command).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from switch.config import Config
from switch.core.calendar import business_day
from switch.core.ledger import available_points
from switch.core.luhn import luhn_ok, mask_pan
from switch.core.mobile import MobileError, mask_mobile, normalize_mobile
from switch.core.text import TextError, is_digits, normalize_text, search_key, to_ascii_digits
from switch.customers.inputs import (
    ChangeForm,
    CustomerError,
    EnrolForm,
    InvalidValue,
    parse_email,
    parse_mobile,
    parse_name,
    parse_typed_date,
)
from switch.customers.words import HistoryLine, in_words
from switch.journal import JournalReader, open_customers, open_reader
from switch.journal.customers import (
    AccountChanges,
    AccountRow,
    CustomerConflict,
    Customers,
    Erased,
    NewAccount,
)

__all__ = ["CardView", "CustomerView", "Desk", "Found", "LotView"]

_SEPARATORS = str.maketrans("", "", " -()\u200c\u00a0")


@dataclass(frozen=True, slots=True)
class Found:
    """A search hit: the account and what matched ("mobile", "card" or "name")."""

    account: AccountRow
    matched_by: str

    @property
    def masked_mobile(self) -> str:
        return mask_mobile(self.account.mobile) if self.account.mobile else ""


@dataclass(frozen=True, slots=True)
class LotView:
    """A live lot of a card: points or purse credit, the store that issued it, its expiry."""

    id: int
    kind: str
    store: str
    store_name: str
    earned_on: dt.date
    expires_on: dt.date | None
    initial: int
    remaining: int


@dataclass(frozen=True, slots=True)
class CardView:
    """One card of an account with its own balances (the money stays on the card)."""

    pan: str
    masked: str
    virtual: bool
    status: str
    enrolled_on: dt.date | None
    points: int
    available_points: int
    purse: int
    tier: str
    #: Stamps collected and rewards waiting, by store name.
    stamps: dict[str, tuple[int, int]]
    lots: list[LotView]


@dataclass(frozen=True, slots=True)
class CustomerView:
    """A customer's page: the profile, each card and the account's sums, the history."""

    account: AccountRow
    cards: list[CardView]
    points: int
    available_points: int
    purse: int
    last_seen: dt.datetime | None
    sms_consent: bool | None
    email_consent: bool | None
    history: list[HistoryLine]
    notes: list[str] = field(default_factory=list)

    @property
    def tier(self) -> str:
        """The highest tier among the cards (a tier is earned per card, docs/programs.md)."""
        return next((c.tier for c in self.cards if c.tier), "")


class Desk:
    """The desk's operations over one switch database and its configuration."""

    def __init__(self, config: Config, customers: Customers, reader: JournalReader) -> None:
        self.config = config
        self.customers = customers
        self.reader = reader

    def today(self, now: dt.datetime) -> dt.date:
        cfg = self.config.switch
        return business_day(now, cfg.zone, cfg.business_day_cutover)

    # -- search -------------------------------------------------------------------------------

    def search(self, text: str, coalition: str | None = None, limit: int = 50) -> list[Found]:
        """Accounts a typed mobile (any form, Persian digits), card number or name finds;
        erased accounts are found by card only, never by name or mobile."""
        bare = to_ascii_digits(text).strip().translate(_SEPARATORS)
        if not bare:
            raise InvalidValue("search: type a mobile number, a card number or a name")
        if is_digits(bare.removeprefix("+")):
            try:
                mobile = normalize_mobile(bare)
            except MobileError:
                mobile = ""
            if mobile:
                return [Found(a, "mobile") for a in self.customers.by_mobile(mobile, coalition)]
            if 13 <= len(bare) <= 19 and luhn_ok(bare):
                found = self.customers.by_card(bare)
                if found is None or (coalition is not None and found.coalition != coalition):
                    return []
                return [Found(found, "card")]
            raise InvalidValue(f"search: {len(bare)} digits are neither a mobile number "
                                "(09121234567, +989121234567, 989121234567) nor a card number "
                                "(13-19 digits, Luhn-valid)")
        try:
            key = search_key(normalize_text(text, "name", max_length=200))
        except TextError as exc:
            raise InvalidValue(str(exc)) from None
        return [Found(a, "name") for a in self.customers.by_name(key, coalition, limit)]

    # -- a customer's page --------------------------------------------------------------------

    def account(self, account_id: int) -> AccountRow:
        row = self.customers.account(account_id)
        if row is None:
            raise CustomerError(f"no account {account_id}")
        return row

    def view(self, account_id: int, now: dt.datetime, history: int = 50) -> CustomerView:
        row = self.account(account_id)
        today = self.today(now)
        cards = [self._card(c.pan, c.virtual, today) for c in self.customers.cards(account_id)]
        pans = [c.pan for c in cards]
        lines = in_words(self.customers.history(pans, history), self.config.stores,
                         self.config.switch.zone)
        return CustomerView(
            account=row, cards=cards, points=sum(c.points for c in cards),
            available_points=sum(c.available_points for c in cards),
            purse=sum(c.purse for c in cards), last_seen=_local(self.customers.last_seen(pans),
                                                                self.config.switch.zone),
            sms_consent=self.customers.consent(row.mobile) if row.mobile else None,
            email_consent=self.customers.consent(row.email) if row.email else None,
            history=lines, notes=self.customers.migration_notes(account_id))

    def _store_name(self, store_id: str) -> str:
        store = self.config.stores.get(store_id)
        return store.name if store is not None else store_id

    def _card(self, pan: str, virtual: bool, today: dt.date) -> CardView:
        card = self.reader.card(pan, club_on=today)
        if card is None:  # linked but not enrolled: a migrated profile of a card never used
            return CardView(pan, mask_pan(pan), virtual, "not enrolled", None, 0, 0, 0, "", {},
                            [])
        club = card.club
        stamps = {self._store_name(s): (n, club.rewards.get(s, 0))
                  for s, n in sorted(club.stamps.items())} if club is not None else {}
        lots = [LotView(lot.id, lot.kind, lot.store, self._store_name(lot.store), lot.earned_on,
                        lot.expires_on, lot.initial, lot.remaining)
                for lot in sorted(card.lots + card.purse,
                                  key=lambda lot: (lot.expires_on or dt.date.max, lot.id))]
        return CardView(pan, mask_pan(pan), virtual, card.status, card.enrolled_on, card.points,
                        available_points(card, today), card.stored_value,
                        club.tier if club is not None else "", stamps, lots)

    # -- profile writes -----------------------------------------------------------------------

    def _coalition(self, named: str | None) -> str:
        if named is not None:
            if named not in self.config.coalitions:
                raise CustomerError(f"unknown coalition {named!r}")
            return named
        if len(self.config.coalitions) != 1:
            raise CustomerError("name the coalition: this switch has "
                                + ", ".join(sorted(self.config.coalitions)))
        return next(iter(self.config.coalitions))

    def new_account(self, form: EnrolForm, now: dt.datetime) -> NewAccount:
        """The form validated field by field (nothing written): `CustomerError` for the first
        field that cannot be accepted, or for a mobile another account holds."""
        today = self.today(now)
        coalition = self._coalition(form.coalition)
        name = parse_name(form.name)
        mobile = parse_mobile(form.mobile)
        email = parse_email(form.email) if form.email else None
        birth = parse_typed_date(form.birth_date, "birth date", today) \
            if form.birth_date else None
        anniversary = parse_typed_date(form.anniversary, "anniversary", today) \
            if form.anniversary else None
        holder = self.customers.by_mobile(mobile, coalition)
        if holder:
            raise CustomerError(f"mobile {mask_mobile(mobile)} belongs to account "
                                f"{holder[0].id}")
        cards = tuple(dict.fromkeys(form.cards))
        for pan in cards:
            self._linkable(pan, coalition, None)
        consent: list[tuple[str, bool]] = []
        if form.sms is not None:
            consent.append((mobile, form.sms))
        if form.emails is not None:
            if email is None:
                raise CustomerError("email consent needs an email address")
            consent.append((email, form.emails))
        return NewAccount(coalition, name, mobile, email, birth, anniversary, form.source,
                          cards, tuple(consent))

    def _linkable(self, pan: str, coalition: str, account: int | None) -> None:
        card = self.customers.card_row(pan)
        if card is None:
            raise CustomerError(f"card {mask_pan(pan)} is not enrolled")
        if card[0] != coalition:
            raise CustomerError(f"card {mask_pan(pan)} is in coalition {card[0]}, "
                                f"not {coalition}")
        owner = self.customers.owner(pan)
        if owner is not None and owner != account:
            raise CustomerError(f"card {mask_pan(pan)} belongs to account {owner}: unlink it "
                                "there first")

    def enroll(self, form: EnrolForm, now: dt.datetime) -> AccountRow:
        new = self.new_account(form, now)
        try:
            account = self.customers.create(new, now)
        except CustomerConflict as exc:
            raise CustomerError(str(exc)) from None
        return self.account(account)

    def update(self, account_id: int, form: ChangeForm, now: dt.datetime) -> AccountRow:
        """Change the fields typed (each validated like an enrolment, all before any is
        written); a mobile another account holds is refused naming it."""
        today = self.today(now)
        name = parse_name(form.name) if form.name is not None else None
        mobile = parse_mobile(form.mobile) if form.mobile is not None else None
        email = parse_email(form.email) if form.email else None
        birth = parse_typed_date(form.birth_date, "birth date", today) \
            if form.birth_date else None
        anniversary = parse_typed_date(form.anniversary, "anniversary", today) \
            if form.anniversary else None
        row = self.account(account_id)
        if row.erased:
            raise CustomerError(f"account {account_id} was erased")
        if mobile is not None:
            holder = [a for a in self.customers.by_mobile(mobile, row.coalition)
                      if a.id != account_id]
            if holder:
                raise CustomerError(f"mobile {mask_mobile(mobile)} belongs to account "
                                    f"{holder[0].id}")
        consent: list[tuple[str, bool]] = []
        if form.sms is not None:
            consent.append((mobile or row.mobile or "", form.sms))
            if not consent[-1][0]:
                raise InvalidValue("SMS consent needs a mobile number")
        if form.emails is not None:
            consent.append((email or row.email or "", form.emails))
            if not consent[-1][0]:
                raise InvalidValue("email consent needs an email address")
        clear = frozenset(f for f, typed in (("email", form.email),
                                             ("birth_date", form.birth_date),
                                             ("anniversary", form.anniversary))
                          if typed == "")
        try:
            self.customers.update(account_id, AccountChanges(
                name, mobile, email, birth, anniversary, clear, tuple(consent)), now)
        except CustomerConflict as exc:
            raise CustomerError(str(exc)) from None
        return self.account(account_id)

    def link(self, account_id: int, pans: list[str], now: dt.datetime) -> list[str]:
        row = self.account(account_id)
        if row.erased:
            raise CustomerError(f"account {account_id} was erased")
        for pan in pans:
            self._linkable(pan, row.coalition, account_id)
        try:
            self.customers.link(account_id, pans, now)
        except CustomerConflict as exc:
            raise CustomerError(str(exc)) from None
        return pans

    def unlink(self, account_id: int, pan: str) -> None:
        self.account(account_id)
        try:
            self.customers.unlink(account_id, pan)
        except CustomerConflict as exc:
            raise CustomerError(str(exc)) from None

    def pans(self, account_id: int) -> list[str]:
        return [c.pan for c in self.customers.cards(account_id)]

    # -- export and erasure -------------------------------------------------------------------

    def export(self, account_id: int, now: dt.datetime) -> dict[str, Any]:
        """One customer's data (the right of access), JSON-ready: profile, consent, cards with
        balances and lots, and the whole history in words."""
        v = self.view(account_id, now, history=100_000)
        a = v.account
        return {
            "account": a.id, "coalition": a.coalition, "name": a.name, "mobile": a.mobile,
            "email": a.email, "birth_date": _iso(a.birth_date),
            "anniversary": _iso(a.anniversary), "source": a.source,
            "created_at": a.created_at.isoformat(), "last_seen": _iso(v.last_seen),
            "erased_at": _iso(a.erased_at), "pseudonym": a.pseudonym,
            "consent": {"sms": v.sms_consent, "email": v.email_consent},
            "points": v.points, "available_points": v.available_points, "purse": v.purse,
            "cards": [{
                "card": c.pan, "virtual": c.virtual, "status": c.status,
                "enrolled_on": _iso(c.enrolled_on), "points": c.points,
                "available_points": c.available_points, "purse": c.purse, "tier": c.tier,
                "stamps": {k: {"stamps": s, "rewards": r} for k, (s, r) in c.stamps.items()},
                "lots": [{"kind": lot.kind, "store": lot.store_name,
                          "earned_on": lot.earned_on.isoformat(),
                          "expires_on": _iso(lot.expires_on), "initial": lot.initial,
                          "remaining": lot.remaining} for lot in c.lots],
            } for c in v.cards],
            "history": [{"at": h.at.isoformat(), "card": h.card, "what": h.text,
                         "points": h.points, "stored_value": h.stored_value}
                        for h in v.history],
        }

    def erase(self, account_id: int, now: dt.datetime) -> Erased:
        """Remove the customer's personal data; the cards, their lots and journal rows stay
        (settlement is unchanged) under a pseudonym (docs/customers.md, "Erasure")."""
        row = self.account(account_id)
        if row.erased:
            raise CustomerError(f"account {account_id} was erased already ({row.pseudonym})")
        try:
            return self.customers.erase(account_id, f"erased-{secrets.token_hex(6)}", now)
        except CustomerConflict as exc:
            raise CustomerError(str(exc)) from None


def _local(at: dt.datetime | None, zone: ZoneInfo) -> dt.datetime | None:
    return at.astimezone(zone) if at is not None else None


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@contextlib.contextmanager
def open_desk(config: Config) -> Iterator[Desk]:
    """The desk over the journal `[switch] database` names (migrated first), closed on exit."""
    customers = open_customers(config.switch.journal)
    try:
        reader = open_reader(config.switch.journal)
        try:
            yield Desk(config, customers, reader)
        finally:
            reader.close()
    finally:
        customers.close()
