"""The records of the switch's in-memory state: cards and their lots, terminals, remembered
transactions, batch totals.

Plain data, held together by `State` (switch/core/state.py), which sits above the rules and
the journal entries that read these records. `decide` reads it and never changes it; `apply`
(switch/core/apply.py) is the one function that changes it, with a decision that was decided
on it just before; recovery builds it from the journal (switch/journal). Nothing here does I/O.

A `Lot` in the state is never changed in place: a decision that moves a lot makes a new `Lot`
with the new `remaining` and `apply` puts it in the card's list instead of the old one. So a
decision's view of a card (`Card` as the decision leaves it) never shares a changed lot with
the state, and a decision that is thrown away leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from switch.core.codes import LotKind

if TYPE_CHECKING:
    from switch.core.programs.club import Club

POINTS = LotKind.POINTS
STORED_VALUE = LotKind.STORED_VALUE

#: DE41 + DE11 + DE7: what makes a request unique per terminal, as one string (`txn_key`).
TxnKey = str


def txn_key(tid: str, stan: str, de7: str) -> TxnKey:
    return f"{tid}|{stan}|{de7}"


@dataclass(slots=True)
class NewLot:
    """A lot as the transaction that credits it issues it: the `lots` row's columns but what
    is left of it (docs/switch.md, "The journal")."""

    id: int
    pan: str
    kind: str
    store: str
    coalition: str
    earned_on: dt.date
    expires_on: dt.date | None
    initial: int


@dataclass(slots=True)
class Lot(NewLot):
    """Points (or stored value) credited by one transaction, drawn down by later ones.

    `remaining` may go below zero only when an earn that was already spent is reversed or a
    return claws back more than is left: the debt stays attributed to the issuing store.
    """

    remaining: int

    def burn_key(self) -> tuple[dt.date, dt.date, int]:
        """Soonest expiry first, then oldest, then lowest ID: the FIFO order of burns."""
        return (self.expires_on or dt.date.max, self.earned_on, self.id)

    def with_remaining(self, remaining: int) -> Lot:
        return Lot(self.id, self.pan, self.kind, self.store, self.coalition, self.earned_on,
                   self.expires_on, self.initial, remaining)


@dataclass(slots=True)
class Card:
    pan: str
    coalition: str
    status: str = "active"
    enrolled_on: dt.date = dt.date(1970, 1, 1)
    #: The card's points lots and purse lots whose `remaining` is not 0, in no set order.
    lots: list[Lot] = field(default_factory=list)
    purse: list[Lot] = field(default_factory=list)
    #: A reference to the PIN verification data in the HSM (docs/security.md).
    pin_ref: str | None = None
    pin_tries: int = 0
    #: Program state (tier, spend, stamps, profile; docs/programs.md), created at first use.
    club: Club | None = None
    #: The virtual card of a mobile-number account: reached by DE48 `MB` only, never by its
    #: number (docs/protocol.md §3, docs/customers.md).
    virtual: bool = False

    @property
    def points(self) -> int:
        return sum(lot.remaining for lot in self.lots)

    @property
    def stored_value(self) -> int:
        return sum(lot.remaining for lot in self.purse)


@dataclass(slots=True)
class TerminalState:
    id: str
    store: str
    signed_on: bool = False
    #: References to session keys held (wrapped under the LMK) by the HSM (docs/security.md).
    mac_key_ref: str | None = None
    pin_key_ref: str | None = None
    #: The terminal master key (wraps session keys for it) and, for a DUKPT PIN pad, the BDK:
    #: both under the HSM's LMK (switch/security, docs/security.md).
    tmk_ref: str | None = None
    bdk_ref: str | None = None


#: The packed layout of `Remembered`: digest | journal id (48 bits) | day ordinal (20) | flags.
_FLAG_BITS, _DAY_BITS, _ID_BITS = 4, 20, 48
_FLAG_MASK, _DAY_MASK, _ID_MASK = (1 << _FLAG_BITS) - 1, (1 << _DAY_BITS) - 1, (1 << _ID_BITS) - 1

#: `Remembered.flags`
APPROVED = 1
#: A request a reversal can name and undo (not a reversal, not a batch close).
REVERSIBLE = 2
#: Undone by an approved reversal.
REVERSED = 4


class Remembered(NamedTuple):
    """A request the switch answered, kept for the idempotency window: only what decisions
    read. The reply, the lot moves and the rest stay in the journal and are read back when a
    retransmission or a reversal names the row (`core.needs`).

    `State.txns` holds it packed into one int (`packed`/`unpack`: digest, journal id,
    business day and flags), about 170 bytes a request with its key (docs/switch.md). A
    `NamedTuple`: every answer builds one, and a frozen dataclass's `__init__` costs several
    times a tuple's (benches/README.md, "The core alone").
    """

    digest: bytes
    journal_id: int
    #: Its business day (the idempotency window is counted in them).
    day: dt.date
    flags: int

    def packed(self) -> int:
        if self.journal_id >> _ID_BITS or self.flags >> _FLAG_BITS or len(self.digest) > 16:
            raise ValueError(f"cannot pack {self!r}")
        return (((int.from_bytes(self.digest) << _ID_BITS | self.journal_id) << _DAY_BITS
                 | self.day.toordinal()) << _FLAG_BITS) | self.flags

    @classmethod
    def unpack(cls, value: int) -> Remembered:
        flags = value & _FLAG_MASK
        value >>= _FLAG_BITS
        day = dt.date.fromordinal(value & _DAY_MASK)
        value >>= _DAY_BITS
        journal_id = value & _ID_MASK
        digest = value >> _ID_BITS
        return cls(digest.to_bytes(16) if digest else b"", journal_id, day, flags)

    @staticmethod
    def day_of(value: int) -> int:
        """The business day's ordinal of a packed record (for `prune`)."""
        return (value >> _FLAG_BITS) & _DAY_MASK

    @property
    def approved(self) -> bool:
        return bool(self.flags & APPROVED)

    @property
    def reversible(self) -> bool:
        return bool(self.flags & REVERSIBLE)

    @property
    def reversed(self) -> bool:
        return bool(self.flags & REVERSED)

    def reversed_now(self) -> Remembered:
        return Remembered(self.digest, self.journal_id, self.day, self.flags | REVERSED)


@dataclass(slots=True)
class Totals:
    """A terminal batch's totals as 0500 counts them (docs/protocol.md §4)."""

    credits: int = 0
    credit_amount: int = 0
    credit_reversals: int = 0
    credit_reversal_amount: int = 0
    debits: int = 0
    debit_amount: int = 0
    debit_reversals: int = 0
    debit_reversal_amount: int = 0

    def as_fields(self) -> dict[int, int]:
        return {
            74: self.credits, 75: self.credit_reversals, 76: self.debits,
            77: self.debit_reversals, 86: self.credit_amount, 87: self.credit_reversal_amount,
            88: self.debit_amount, 89: self.debit_reversal_amount,
        }

    @classmethod
    def from_fields(cls, fields: Mapping[int, int]) -> Totals:
        """The inverse of `as_fields`: DE74-77 counts and DE86-89 amounts (absent: 0)."""
        return cls(
            credits=fields.get(74, 0), credit_reversals=fields.get(75, 0),
            debits=fields.get(76, 0), debit_reversals=fields.get(77, 0),
            credit_amount=fields.get(86, 0), credit_reversal_amount=fields.get(87, 0),
            debit_amount=fields.get(88, 0), debit_reversal_amount=fields.get(89, 0),
        )

    def as_tuple(self) -> tuple[int, ...]:
        return (self.credits, self.credit_amount, self.credit_reversals,
                self.credit_reversal_amount, self.debits, self.debit_amount,
                self.debit_reversals, self.debit_reversal_amount)
