"""The rows the journal hands to its readers, one shape per table, the same for every engine.

What the switch writes is `switch.core.entries.Entry` (a journal row with the rows it changes);
what readers get back is below, or the core's own type where one fits the table already:
`switch.core.model.Lot` (a `lots` row), `switch.core.entries.CardRow` (a `cards` row),
`switch.core.model.Totals` (a `batch_totals` row), `switch.core.programs.club.Profile`
(a `customers` row). Settlement, the console and the commands share these; none keeps a
tuple or a copy of its own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from switch.core.codes import RC
from switch.core.entries import JournalColumns
from switch.core.rewards import CouponState, CouponTerms

Channel = Literal["sms", "email"]


@dataclass(frozen=True, slots=True)
class Draw:
    """A `lot_moves` row as read: `delta` added to lot `lot_id` (points or stored value) that
    store `issuer` issued."""

    lot_id: int
    kind: str
    issuer: str
    delta: int


@dataclass(slots=True)
class JournalRow(JournalColumns):
    """A `journal` row as its readers see it: settlement, reports, a card's history. The
    columns are the core's (`switch.core.entries.JournalColumns`, which `Entry` writes);
    these add what a reader joins or leaves out. Readers never change one; it is not frozen
    because its columns are shared with the `Entry` a decision fills in, and a plain
    `__init__` is the cheaper one for settlement's millions of rows."""

    #: For reversals: the kind of the entry they reversed (from the journal, by `original_id`).
    original_kind: str = ""
    draws: tuple[Draw, ...] = ()
    #: The switch's time of the decision; None where the reader reads by business day only
    #: (settlement's rows).
    at: dt.datetime | None = None

    @property
    def approved(self) -> bool:
        return self.response_code == RC.APPROVED


@dataclass(frozen=True, slots=True)
class CouponMoveRow:
    """A `coupon_moves` row as `lps coupons show` reads it, with its journal row's time,
    terminal and answer."""

    journal_id: int
    action: str
    store_id: str
    pan: str
    discount: int
    original_id: int | None
    at: dt.datetime | None
    terminal_id: str
    response_code: str


@dataclass(frozen=True, slots=True)
class CouponRecord:
    """A coupon as the journal holds it: its issue's terms, its state, when and into which
    file it was issued, how many codes the issue has, and every move."""

    terms: CouponTerms
    state: CouponState
    issued_at: dt.datetime
    file: str
    issue_count: int
    moves: tuple[CouponMoveRow, ...] = ()


@dataclass(frozen=True, slots=True)
class KeyCheckValues:
    """A `terminal_keys` row without its keys: the check values custodians compare."""

    terminal_id: str
    tmk: str | None
    mac: str | None
    pin: str | None
    bdk: str | None
    updated_at: str | None


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """An `outbox` row as the sender reads it (docs/messaging.md §Tables)."""

    id: int
    channel: Channel
    recipient: str
    customer_ref: str
    template: str
    params: dict[str, Any]
    kind: str
    coalition_id: str | None
    store_id: str | None
    attempts: int
    state: str
    last_error: str | None
    #: Parts the SMSC already acknowledged: part number -> its message id.
    acknowledged: dict[int, str]


@dataclass(frozen=True, slots=True)
class DayFigures:
    """A business day's terminal traffic, as the console's dashboard shows it."""

    #: (store, approved, declined), by store.
    by_store: list[tuple[str, int, int]]
    #: (response code, rows), most frequent first. (The day's points are figures of
    #: settlement.figures, docs/settlement.md "The figures", not counted here.)
    by_code: list[tuple[str, int]]
