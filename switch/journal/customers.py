"""The customer accounts' tables as their users see them (docs/customers.md, "Tables"): rows
and the `Customers` protocol an engine implements, the same for every engine.

An account owns zero or more cards; the money stays on the cards (lots, the journal), so an
account's balance is its cards' summed. What the desk writes here is profile data only (name,
mobile, dates, links to cards); enrolling a card is the switch's (a journal row), and a
mobile-number account's virtual card is linked by the switch's own group commit
(`switch.core.entries.AccountLink`). Consent to promotional messages is the messaging
package's `message_consent` table, keyed by the mobile number and the email address: one
source of truth for the desk and for the sender alike.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from switch.journal.rows import JournalRow

if TYPE_CHECKING:
    from switch.journal.protocol import Outbox
    from switch.journal.sql.club import SqlClub

#: Where an account came from (`accounts.source`).
SOURCES = ("desk", "import", "pos", "card", "migration")


@dataclass(frozen=True, slots=True)
class AccountRow:
    """An `accounts` row: the profile, in its stored forms (docs/customers.md)."""

    id: int
    coalition: str
    #: `normalize_text`'s form; "" for a mobile-only account a POS made, and once erased.
    name: str
    #: `normalize_mobile`'s form, `989121234567`; None: none, or erased.
    mobile: str | None
    email: str | None
    birth_date: dt.date | None
    anniversary: dt.date | None
    source: str
    created_at: dt.datetime
    updated_at: dt.datetime
    erased_at: dt.datetime | None = None
    #: What the account is called once erased (its money history stays under it).
    pseudonym: str | None = None

    @property
    def erased(self) -> bool:
        return self.erased_at is not None


@dataclass(frozen=True, slots=True)
class NewAccount:
    """An account to make (the desk, an import): validated values in their stored forms."""

    coalition: str
    name: str
    mobile: str
    email: str | None = None
    birth_date: dt.date | None = None
    anniversary: dt.date | None = None
    source: str = "desk"
    #: Card numbers to link (each enrolled in the coalition already).
    cards: tuple[str, ...] = ()
    #: Promotional consent to record, by address (mobile or email): `message_consent`.
    consent: tuple[tuple[str, bool], ...] = ()


@dataclass(frozen=True, slots=True)
class AccountChanges:
    """The fields an update sets (None: left as it is; `clear` names fields to empty)."""

    name: str | None = None
    mobile: str | None = None
    email: str | None = None
    birth_date: dt.date | None = None
    anniversary: dt.date | None = None
    clear: frozenset[str] = frozenset()
    consent: tuple[tuple[str, bool], ...] = ()


@dataclass(frozen=True, slots=True)
class LinkedCard:
    """An `account_cards` row with its card's `cards` row."""

    pan: str
    virtual: bool
    linked_at: dt.datetime
    coalition: str
    status: str
    enrolled_on: dt.date | None


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """A journal row of one of an account's cards with what the desk tells in words: an
    operator command's action and reason (`detail`), a reversal's original kind."""

    row: JournalRow
    action: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Erased:
    """What an erasure did: the pseudonym, and how many consent and message rows lost the
    customer's addresses."""

    pseudonym: str
    consents: int
    messages: int


class CustomerConflict(ValueError):
    """A write the tables refuse: a mobile another account holds, a card linked elsewhere.
    The message names the other account by its id and masked mobile only."""


class Customers(Protocol):
    """The accounts' tables: the desk's reads and profile writes (docs/customers.md)."""

    @property
    def location(self) -> str: ...

    @property
    def club(self) -> SqlClub:
        """The nightly job's tables (segments, bonuses) on this connection."""
        ...

    @property
    def outbox(self) -> Outbox:
        """The outbox on this connection, so a message joins `transaction`."""
        ...

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """One write transaction around several writes (an import): all or nothing."""
        ...

    # -- reads --------------------------------------------------------------------------------

    def account(self, account_id: int) -> AccountRow | None: ...

    def by_mobile(self, mobile: str, coalition: str | None = None) -> list[AccountRow]:
        """Accounts holding `mobile` (one per coalition at most)."""
        ...

    def by_name(self, key: str, coalition: str | None = None, limit: int = 50
                ) -> list[AccountRow]:
        """Accounts whose name's `search_key` holds `key`, by name."""
        ...

    def by_card(self, pan: str) -> AccountRow | None: ...

    def cards(self, account_id: int) -> list[LinkedCard]: ...

    def card_row(self, pan: str) -> tuple[str, str] | None:
        """The card's (coalition, status) as enrolled; None: not enrolled."""
        ...

    def owner(self, pan: str) -> int | None:
        """The account a card is linked to (None: none)."""
        ...

    def consent(self, address: str) -> bool | None: ...

    def history(self, pans: Collection[str], limit: int) -> list[HistoryRow]:
        """The cards' journal rows newest first, without rejects, inquiries declined and
        network rows."""
        ...

    def last_seen(self, pans: Collection[str]) -> dt.datetime | None:
        """When one of the cards last had an approved transaction at a terminal."""
        ...

    def migration_notes(self, account_id: int) -> list[str]:
        """What the move from card profiles to accounts said about this account."""
        ...

    # -- profile writes (committed at once unless inside `transaction`) ------------------------

    def create(self, new: NewAccount, now: dt.datetime) -> int: ...

    def update(self, account_id: int, changes: AccountChanges, now: dt.datetime) -> None: ...

    def link(self, account_id: int, pans: Sequence[str], now: dt.datetime) -> None: ...

    def unlink(self, account_id: int, pan: str) -> None: ...

    def erase(self, account_id: int, pseudonym: str, now: dt.datetime) -> Erased: ...

    def close(self) -> None: ...
