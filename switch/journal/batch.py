"""A group commit's rows: what one batch of `Entry`s writes to each table, as parameters.

The same for every engine (SQL parameters in each table's column order); the engine runs them
in one transaction (`SqliteJournal.append`). Built outside the transaction, on the writer's
thread, so that the transaction holds only the writes.

A journal row carries its reply and detail as data (`codec.Reply`, a dict); `stored` writes
them as the JSON the journal keeps where the rows are written, inside the transaction (some
6 µs an entry): on SQLite in the commit process, off the event loop that builds the rows
(docs/switch.md, "The commit process").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from switch.core.entries import Entry
from switch.core.programs.club import ClubRows
from switch.journal.codec import detail_to_json, reply_of, reply_to_json

#: Columns of `terminal_keys` a decision may set (`detail["security"]["terminal_keys"]`).
KEY_COLUMNS = ("tmk", "tmk_kcv", "mac", "mac_kcv", "pin", "pin_kcv", "bdk", "bdk_kcv")

Params = tuple[Any, ...]
#: `BatchRows.packed`: its lists in its fields' order, each club row a plain tuple.
Packed = tuple[list[Params], ...]


@dataclass(slots=True)
class BatchRows:
    """Parameters per table, in journal order."""

    journal: list[Params] = field(default_factory=list)
    lots: list[Params] = field(default_factory=list)
    moves: list[Params] = field(default_factory=list)
    #: (delta, lot id): each move added to its lot's `remaining`.
    deltas: list[Params] = field(default_factory=list)
    cards: list[Params] = field(default_factory=list)
    terminals: list[Params] = field(default_factory=list)
    clubs: list[ClubRows] = field(default_factory=list)
    keys: list[Params] = field(default_factory=list)
    pins: list[Params] = field(default_factory=list)
    totals: list[Params] = field(default_factory=list)
    #: (coalition, mobile, card, at): virtual cards to link to their accounts.
    links: list[Params] = field(default_factory=list)
    #: `coupon_moves` rows, in journal order (each also changes its coupon's state).
    coupons: list[Params] = field(default_factory=list)
    #: `program_versions` rows.
    programs: list[Params] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        return [row[0] for row in self.journal]

    def packed(self) -> Packed:
        """The rows as plain lists and tuples, in the fields' order: what crosses the pipe to
        the commit process. Pickle writes them without the reduce steps of this dataclass
        (some 4 µs a batch) and of each `ClubRows` (about 1 µs a row), and reads them back
        without looking the classes up (benches/README.md,
        "What the loop hands the commit process")."""
        return (self.journal, self.lots, self.moves, self.deltas, self.cards, self.terminals,
                [tuple(c) for c in self.clubs], self.keys, self.pins, self.totals, self.links,
                self.coupons, self.programs)

    @classmethod
    def unpacked(cls, packed: Packed) -> BatchRows:
        """The `BatchRows` whose `packed` this is."""
        (journal, lots, moves, deltas, cards, terminals, clubs, keys, pins, totals, links,
         coupons, programs) = packed
        return cls(journal, lots, moves, deltas, cards, terminals,
                   [ClubRows._make(c) for c in clubs], keys, pins, totals, links, coupons,
                   programs)


def batch_rows(entries: Sequence[Entry]) -> BatchRows:
    """The rows of `entries`. Kinds and response codes are written as plain `str`: SQLite's
    module binds an exact str at once, where a `StrEnum` member first goes through its adapter
    look-up (failed attribute look-ups, about 2,600 instructions a parameter); the text
    is the same."""
    rows = BatchRows()
    for e in entries:
        okey = e.original_key
        detail = _security_rows(e, rows.keys, rows.pins) if e.detail else None
        rows.journal.append((
            e.id, e.at.isoformat(), e.business_day.isoformat(), str(e.kind), e.mti, e.pc,
            e.terminal_id, e.store_id, e.coalition_id, e.pan, e.stan, e.transmission, e.rrn,
            e.amount, e.points, e.sv, str(e.response_code), e.batch, e.digest, e.original_id,
            okey[1] if okey else None, okey[2] if okey else None,
            reply_of(e.response) if e.response is not None else None,
            detail or None, e.program_version,
        ))
        for n in e.new_lots:
            rows.lots.append((n.id, n.pan, str(n.kind), n.store, n.coalition,
                              n.earned_on.isoformat(),
                              n.expires_on.isoformat() if n.expires_on else None, n.initial, 0,
                              e.id))
        for d in e.lot_deltas:
            lot, delta = d.lot, d.delta
            rows.moves.append((e.id, lot.id, lot.pan, str(lot.kind), lot.store, delta))
            rows.deltas.append((delta, lot.id))
        if e.card is not None:
            c = e.card
            rows.cards.append((c.pan, c.coalition, c.status, c.enrolled_on.isoformat()))
        if e.account is not None:
            a = e.account
            rows.links.append((a.coalition, a.mobile, a.pan, e.at.isoformat()))
        if e.terminal is not None:
            t = e.terminal
            rows.terminals.append((t.id, t.store, bool(t.signed_on)))
        if e.club is not None:
            rows.clubs.append(e.club)
        if e.coupon is not None:
            m = e.coupon
            rows.coupons.append((e.id, m.digest, m.issue, m.action, m.coalition, m.issuer,
                                 m.store, m.pan, m.discount, m.original_id))
        if e.programs is not None:
            p = e.programs
            rows.programs.append((p.version, e.id, e.at.isoformat(), p.digest, p.file,
                                  p.document))
        if e.totals is not None:
            td = e.totals
            rows.totals.append((td.terminal_id, td.batch, td.credits, td.credit_amount,
                                td.credit_reversals, td.credit_reversal_amount, td.debits,
                                td.debit_amount, td.debit_reversals, td.debit_reversal_amount))
    return rows


#: Where a journal row holds its reply and detail (`batch_rows`, `stored`).
_REPLY, _DETAIL = 22, 23


def stored(journal: Sequence[Params]) -> list[Params]:
    """`journal` rows as the journal table takes them: the reply and the detail as JSON."""
    return [(*row[:_REPLY],
             reply_to_json(row[_REPLY]) if row[_REPLY] is not None else None,
             detail_to_json(row[_DETAIL]) if row[_DETAIL] else None,
             *row[_DETAIL + 1:]) for row in journal]


def _security_rows(e: Entry, keys: list[Params], pins: list[Params]) -> dict[str, Any] | None:
    """Collect the key/PIN rows an entry carries; return the detail the journal keeps.

    Wrapped keys and PINs go to their tables only: the journal keeps the check values and
    the try count (an audit trail without the stored secrets, wrapped as they are).
    """
    sec = e.detail.get("security")
    if not sec:
        return e.detail
    at = e.at.isoformat()
    kept: dict[str, Any] = {}
    tk = sec.get("terminal_keys")
    if tk:
        keys.append((e.terminal_id, at, *(tk.get(c) for c in KEY_COLUMNS)))
        kept["terminal_keys"] = {c: v for c, v in tk.items() if c.endswith("_kcv")}
    cp = sec.get("card_pin")
    if cp:
        pins.append((e.pan, cp.get("pin"), cp["tries"], at))
        kept["card_pin"] = {"tries": cp["tries"], **({"pin": "set"} if cp.get("pin") else {})}
    return {**e.detail, "security": kept}
