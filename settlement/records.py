"""The records settlement reads from the journal: plain, frozen data with integer money.

They project the switch's journal (`switch.journal.rows`) onto what settlement needs,
so the core can be driven by hand-written tables in tests and by the journal in production
alike.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

# Journal kinds, lot kinds and codes, re-exported: the switch's own constants are the one
# source of the strings the journal holds (switch.core is pure, so this brings no I/O).
from switch.core.codes import PC, RC, Kind
from switch.core.entries import ADVICE as ADVICE
from switch.core.entries import BATCH_CLOSE as BATCH_CLOSE
from switch.core.entries import EARN as EARN
from switch.core.entries import REDEEM as REDEEM
from switch.core.entries import RETURN as RETURN
from switch.core.entries import REVERSAL as REVERSAL
from switch.core.entries import SV_PURCHASE as SV_PURCHASE
from switch.core.model import POINTS as POINTS
from switch.core.model import STORED_VALUE as STORED_VALUE
from switch.core.model import Totals as Totals
from switch.exit_codes import EXIT_INPUT, EXIT_USAGE, CommandError

# The journal's rows as its read API gives them (switch/journal/rows.py): one shape for
# settlement, the console and the commands.
from switch.journal.rows import Draw as Draw
from switch.journal.rows import JournalRow

#: One journal entry as settlement sees it.
Row = JournalRow

TOPUP = Kind.TOPUP
APPROVED = RC.APPROVED

#: Processing codes whose lot draws move value between stores (docs/protocol.md §4).
PC_REDEEM = PC.REDEEM
PC_SV_PURCHASE = PC.SV_PURCHASE
PC_PURCHASE = PC.EARN
SPENDING_PCS = frozenset({PC_REDEEM, PC_SV_PURCHASE, PC.DISCOUNT})
#: A discount at the till burns points like a redemption (docs/settlement.md "Discounts and
#: memberships"); a club card sold is owed to the coalition's operator.
DISCOUNT = Kind.DISCOUNT
MEMBERSHIP = Kind.MEMBERSHIP
REDEEMING_KINDS = frozenset({REDEEM, DISCOUNT})


class SettlementError(CommandError):
    """Settlement cannot proceed; the message names the record and what is wrong (exit 1)."""

    prefix = "failed, nothing written: "


class InputError(SettlementError):
    """The journal (or the configuration) holds something settlement must not guess about."""

    exit_code = EXIT_INPUT
    prefix = ""


class InvariantError(SettlementError):
    """A money invariant failed (positions not summing to zero, an entry counted twice)."""


@dataclass(frozen=True, slots=True)
class Flow:
    """Value that moved from `payer` (the lot's issuer) to `payee` (the accepting store).

    `units` are points for `POINTS` and currency minor units for `STORED_VALUE`; negative
    when a reversal gives back what an earlier day's redemption took.
    """

    kind: str
    payer: str
    payee: str
    units: int


@dataclass(frozen=True, slots=True)
class LotExpiry:
    """A lot that is (or became) unusable by the settled day, with its remaining balance.

    `before` is the remaining at the end of the previous business day and `after` at the end
    of the settled day; both are from the journal, so breakage never depends on earlier runs.
    """

    lot_id: int
    issuer: str
    expires_on: dt.date
    before: int
    after: int


@dataclass(frozen=True, slots=True)
class BatchClose:
    """A 0500 the switch journaled: the terminal's totals as it sent them."""

    id: int
    terminal_id: str
    store_id: str
    batch: str
    response_code: str
    terminal: Totals
    #: The switch's totals recomputed from the journal, when the reader aggregated them.
    switch: Totals | None = None
    #: The batch's transactions (any business day, journaled before the close) and the
    #: reversals of them journaled before the close; a reader may leave them out of a batch
    #: whose `switch` totals balance, since nothing needs explaining there.
    rows: tuple[Row, ...] = field(default_factory=tuple)


class ConfigurationError(SettlementError):
    """The configuration lacks what this settlement needs (a store's IBAN): exit 2."""

    exit_code = EXIT_USAGE
    prefix = "configuration: "
