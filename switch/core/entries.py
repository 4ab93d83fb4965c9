"""What a decision asks the journal to persist: one journal row plus the rows it changes.

The journal is append-only: every request the switch answers (financial ones and operator
commands) is one `Entry`. Lot changes are recorded as signed `LotDelta`s so that the lots table
can be rebuilt from the journal and settlement can tell whose points a burn drew from.

The rows an entry carries are never changed once made (the writer thread reads them while the
event loop goes on). The ones every answer makes or reads (`NewLot`, `LotDelta`, `TotalsDelta`)
are plain slots dataclasses: built as fast as a `NamedTuple` and read by a specialised
instruction, where Python 3.11 reads a `NamedTuple`'s fields through the generic attribute
path; a frozen dataclass builds several times slower (benches/README.md, "The core alone").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from iso8583.message import Message
from switch.core.codes import Kind
from switch.core.model import Lot, NewLot, Totals
from switch.core.programs.club import ClubRows
from switch.core.rewards import CouponMove, ProgramVersion

# The entry kinds settlement imports from here (settlement/records.py); `codes.Kind` has all.
EARN, ADVICE, REDEEM, RETURN = Kind.EARN, Kind.ADVICE, Kind.REDEEM, Kind.RETURN
SV_PURCHASE, REVERSAL, BATCH_CLOSE = Kind.SV_PURCHASE, Kind.REVERSAL, Kind.BATCH_CLOSE
CARD_ADMIN = Kind.CARD_ADMIN


@dataclass(slots=True)
class LotDelta:
    """`delta` added to `lot`; `lot` is the lot as this entry leaves it (its id, card, kind,
    issuing store and dates), so that a reversal can revive it even once it is spent."""

    lot: Lot
    delta: int

    @property
    def lot_id(self) -> int:
        return self.lot.id

    @property
    def pan(self) -> str:
        return self.lot.pan

    @property
    def kind(self) -> str:
        return self.lot.kind

    @property
    def store(self) -> str:
        return self.lot.store


class CardRow(NamedTuple):
    pan: str
    coalition: str
    status: str
    enrolled_on: dt.date


@dataclass(frozen=True, slots=True)
class AccountLink:
    """A virtual card made for a mobile-number account (DE48 `MB`, docs/customers.md): the
    journal links card `pan` to the coalition's account of `mobile`, making the account when
    it has none, in the transaction of the entry that enrolled the card."""

    coalition: str
    mobile: str
    pan: str
    #: The card number's serial in the coalition's virtual range (the next one follows it).
    serial: int

    @property
    def key(self) -> str:
        return mobile_key(self.coalition, self.mobile)


def mobile_key(coalition: str, mobile: str) -> str:
    """One mobile number of one coalition, as one string (mobiles are unique per coalition)."""
    return f"{coalition}|{mobile}"


class TerminalRow(NamedTuple):
    id: str
    store: str
    signed_on: bool


@dataclass(slots=True)
class TotalsDelta(Totals):
    """What this entry adds to its terminal batch's 0500 totals (`model.Totals`), and which
    batch that is.

    The journal adds it to the batch's durable row in the same transaction, so that a 0500 is
    compared with the whole batch however long it stayed open, not only with what the
    recovered cache still holds.
    """

    terminal_id: str = field(kw_only=True)
    batch: str = field(kw_only=True)


@dataclass(slots=True)
class JournalColumns:
    """The columns of a `journal` row that the switch writes and its readers read back: one
    shape for both, `Entry` (what a decision writes) and `switch.journal.rows.JournalRow`
    (what settlement, reports and the console read) add their own columns to it.

    Not frozen: `Entry` is filled in while a decision is built (`outcome.finish`), and a frozen
    dataclass's `__init__` costs four times a plain one's (benches/README.md, "The core
    alone"). Positional order: id, business_day, kind, then the rest by keyword or in this
    order (`switch.journal.sql.days.journal_row` reads a row positionally).
    """

    id: int
    business_day: dt.date
    kind: str
    mti: str = ""
    pc: str = ""
    terminal_id: str = ""
    store_id: str = ""
    pan: str = ""
    amount: int = 0
    points: int = 0
    sv: int = 0
    response_code: str = ""
    batch: str = ""
    rrn: str = ""
    original_id: int | None = None


@dataclass(slots=True, kw_only=True)
class Entry(JournalColumns):
    """One journal row as a decision writes it (built by keyword only). `points`/`sv` are the
    signed net changes to the card's balances."""

    at: dt.datetime
    coalition_id: str = ""
    stan: str = ""
    transmission: str = ""
    digest: str = ""
    original_key: tuple[str, str, str] | None = None
    response: Message | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    new_lots: list[NewLot] = field(default_factory=list)
    lot_deltas: list[LotDelta] = field(default_factory=list)
    card: CardRow | None = None
    #: The virtual card this entry enrolled, linked to its mobile-number account.
    account: AccountLink | None = None
    terminal: TerminalRow | None = None
    #: Program state rows (tier, spend, daily earned, birthday, stamps) this entry rewrites.
    club: ClubRows | None = None
    #: What this entry adds to its batch's totals (earns, redemptions and their reversals).
    totals: TotalsDelta | None = None
    #: The version of the programs this entry was decided under (docs/programs.md).
    program_version: int | None = None
    #: What it does to a coupon (a redemption, its reversal, a void).
    coupon: CouponMove | None = None
    #: A new version of the programs it records (`lps programs reload`).
    programs: ProgramVersion | None = None
