"""The switch's in-memory state as one object: what every decision reads.

`decide` reads it and never changes it; `apply` (switch/core/apply.py) is the one function
that changes it, with a decision that was decided on it just before; recovery builds it from
the journal (switch/journal). Its records (cards, lots, terminals, remembered requests,
batch totals) are switch/core/model.py, below the rules and the journal entries that this
object also holds. Nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass, field

from switch.core.card_store import Cards
from switch.core.catalog import Catalog
from switch.core.entries import Entry
from switch.core.limits import DEFAULT_LIMITS, MoneyLimits
from switch.core.model import Remembered, TerminalState, Totals, TxnKey
from switch.core.protocol import Lps87, lps87
from switch.core.rules import RuleBook

__all__ = ["State"]


@dataclass(slots=True)
class State:
    """Everything the core needs to decide, and nothing it must not see (no clock, no I/O)."""

    config: Catalog
    rules: RuleBook
    #: By PAN; most packed, the ones in use as `Card` objects (switch/core/card_store.py).
    cards: Cards = field(default_factory=Cards)
    terminals: dict[str, TerminalState] = field(default_factory=dict)
    #: The most recent requests answered within the idempotency window (`Remembered`,
    #: packed), by `txn_key`: at most `replay_memory` of them once committed; the older ones
    #: are looked up in the journal (switch/core/replay.py, docs/switch.md "Memory").
    txns: dict[TxnKey, int] = field(default_factory=dict)
    #: Reversals of unknown originals: original key -> journal ID of the reversal, for the
    #: reversals still in `txns`.
    tombstones: dict[TxnKey, int] = field(default_factory=dict)
    #: The keys of `txns` in the order they were remembered (journal id order), and the
    #: tombstones with their journal ids: the oldest leave memory first.
    txn_order: deque[TxnKey] = field(default_factory=deque)
    tomb_order: deque[tuple[TxnKey, int]] = field(default_factory=deque)
    #: Requests of business days before this one are outside the idempotency window (`prune`,
    #: recovery): forgotten in memory and in the journal alike.
    remember_from: dt.date = dt.date.min
    #: The business day of the newest request that left memory for the bound (None: none
    #: inside the window did): while set, a key not in memory is looked up in the journal.
    forgot_day: dt.date | None = None
    #: The same for tombstones (rare: reversals of requests never seen), so that a fresh
    #: 0200/0220 reads the journal's tombstones only while some left memory.
    forgot_tombstone_day: dt.date | None = None
    #: A cache of terminal batches' totals (the journal's `batch_totals` is the whole of them).
    totals: dict[tuple[str, str], Totals] = field(default_factory=dict)
    next_journal_id: int = 1
    next_lot_id: int = 1
    #: Entries applied but not known to be committed yet, by journal id: what a decision reads
    #: in memory instead of from the journal. The shell drops them once committed
    #: (`core.journaled`); a state nobody commits for (`handle` in tests) keeps them all.
    uncommitted: dict[int, Entry] = field(default_factory=dict)
    #: The entries of `uncommitted` that name an original (returns, reversals), by journal id
    #: in journal order: what a reversal or return reads of the entries in flight, without
    #: walking every one of them (thousands at a load generator's concurrency). Kept with
    #: `uncommitted` by `apply` and `core.journaled`.
    naming: dict[int, Entry] = field(default_factory=dict)
    #: Every journal id up to this one is in the journal and not in `uncommitted`: a need for
    #: such a row can only be answered by the journal (0: nothing was ever journaled).
    durable_upto: int = 0
    #: Virtual cards enrolled by entries still in `uncommitted`, by `entries.mobile_key`: a
    #: mobile number the journal does not know yet (`core.needs` reads the rest there).
    pending_mobiles: dict[str, str] = field(default_factory=dict)
    #: The next serial in each coalition's range of virtual cards (`MobileAccounts`).
    virtual_next: dict[str, int] = field(default_factory=dict)
    limits: MoneyLimits = DEFAULT_LIMITS
    protocol: Lps87 = field(default_factory=lps87)
    #: The version of the programs `config` and `rules` hold (docs/programs.md, "Changing
    #: programs while the switch runs"); every entry records the one it was decided under.
    program_version: int = 0

    def remembered(self, key: TxnKey) -> Remembered | None:
        """The request's record if it is in memory (see `forgetting` for the rest)."""
        value = self.txns.get(key)
        return Remembered.unpack(value) if value is not None else None

    def forgetting(self) -> bool:
        """Some request inside the idempotency window is only in the journal: a key missing
        from memory must be looked up there before it counts as new."""
        return self.forgot_day is not None and self.forgot_day >= self.remember_from

    def forgetting_tombstones(self) -> bool:
        """Some tombstone inside the idempotency window is only in the journal."""
        return self.forgot_tombstone_day is not None \
            and self.forgot_tombstone_day >= self.remember_from
