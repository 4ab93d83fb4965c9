"""The switch's in-memory state: cards and their lots, terminals, remembered transactions.

Plain mutable data. Only the authorizer changes it (one message at a time, on one thread), and
recovery builds it from the store. Nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from iso8583.message import Message

if TYPE_CHECKING:
    from switch.config import Config
    from switch.core.programs.club import Club, ClubEffect
    from switch.core.rules import RuleBook

POINTS = "points"
STORED_VALUE = "sv"

#: DE41 + DE11 + DE7: what makes a request unique per terminal.
TxnKey = tuple[str, str, str]


@dataclass(slots=True)
class Lot:
    """Points (or stored value) credited by one transaction, drawn down by later ones.

    `remaining` may go below zero only when an earn that was already spent is reversed or a
    return claws back more than is left: the debt stays attributed to the issuing store.
    """

    id: int
    pan: str
    kind: str
    store: str
    coalition: str
    earned_on: dt.date
    expires_on: dt.date | None
    initial: int
    remaining: int

    def burn_key(self) -> tuple[dt.date, dt.date, int]:
        """Soonest expiry first, then oldest, then lowest ID: the FIFO order of burns."""
        return (self.expires_on or dt.date.max, self.earned_on, self.id)


@dataclass(slots=True)
class Card:
    pan: str
    coalition: str
    status: str = "active"
    enrolled_on: dt.date = dt.date(1970, 1, 1)
    lots: list[Lot] = field(default_factory=list)
    purse: list[Lot] = field(default_factory=list)
    #: Seam for message security (issue 5): a reference to the PIN verification data in the HSM.
    pin_ref: str | None = None
    pin_tries: int = 0
    #: Program state (tier, spend, stamps, profile; issue 4), created at its first use.
    club: Club | None = None

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
    #: Seams for issue 5: references to session keys held (wrapped) by the HSM.
    mac_key_ref: str | None = None
    pin_key_ref: str | None = None
    #: The terminal master key (wraps session keys for it) and, for a DUKPT PIN pad, the BDK:
    #: both under the HSM's LMK (switch/security, docs/security.md).
    tmk_ref: str | None = None
    bdk_ref: str | None = None


@dataclass(slots=True)
class Move:
    """One change to one lot, in journal order; a reversal applies the opposite moves."""

    lot: Lot
    delta: int


@dataclass(slots=True)
class Txn:
    """A financial request the switch answered, kept for retransmissions, reversals, returns."""

    key: TxnKey
    digest: str
    journal_id: int
    mti: str
    pc: str
    pan: str
    store: str
    amount: int
    batch: str
    response_code: str
    response: Message
    business_day: dt.date
    kind: str = ""
    points: int = 0
    sv: int = 0
    moves: list[Move] = field(default_factory=list)
    reversed: bool = False
    #: For earns: how much of the amount has been returned and how many points clawed back.
    returned_amount: int = 0
    clawed: int = 0
    #: For returns: the earn they claw back from.
    original: Txn | None = None
    #: For reversals: the original's key they name.
    original_key: TxnKey | None = None
    #: What it did to the card's program state (`Card.club`), undone by its reversal.
    effect: ClubEffect | None = None

    @property
    def approved(self) -> bool:
        return self.response_code == "00"


@dataclass(slots=True)
class Totals:
    """A terminal batch's totals as 0500 counts them (PROTOCOL.md §4)."""

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


@dataclass(slots=True)
class State:
    """Everything the authorizer needs to decide, and nothing it must not see (no clock)."""

    config: Config
    rules: RuleBook
    cards: dict[str, Card] = field(default_factory=dict)
    terminals: dict[str, TerminalState] = field(default_factory=dict)
    txns: dict[TxnKey, Txn] = field(default_factory=dict)
    #: Reversals of unknown originals: original key -> journal ID of the reversal.
    tombstones: dict[TxnKey, int] = field(default_factory=dict)
    #: Approved earns by RRN, for returns (`OR`).
    by_rrn: dict[str, Txn] = field(default_factory=dict)
    totals: dict[tuple[str, str], Totals] = field(default_factory=dict)
    next_journal_id: int = 1
    next_lot_id: int = 1

    def new_journal_id(self) -> int:
        jid = self.next_journal_id
        self.next_journal_id = jid + 1
        return jid

    def new_lot_id(self) -> int:
        lid = self.next_lot_id
        self.next_lot_id = lid + 1
        return lid
