"""The inputs' digest: SHA-256 over canonical text of everything a settlement read.

Each section (stores, entries, draws, lots, batch closes) is hashed on its own as lines in a
fixed order, and the sections' digests are hashed together. The line formats are defined here
once; the SQLite reader builds the same lines in SQL (see `journal.ENTRY_LINE`) so a day has one
digest whichever way it was read, and `tests/settlement` checks that the two agree.
"""

from __future__ import annotations

import hashlib

from settlement.records import BatchClose, Draw, LotExpiry, Row, Totals

#: Bump when a line format or the meaning of an output changes: old seals then differ.
FORMAT = "lps-settlement/1"
SECTIONS = ("stores", "entries", "draws", "lots", "closes")


def entry_line(r: Row) -> str:
    oid = "" if r.original_id is None else r.original_id
    return (
        f"{r.id}|{r.business_day.isoformat()}|{r.kind}|{r.mti}|{r.pc}|{r.terminal_id}|"
        f"{r.store_id}|{r.pan}|{r.amount}|{r.points}|{r.sv}|{r.response_code}|{r.batch}|"
        f"{r.rrn}|{oid}"
    )


def draw_line(entry_id: int, d: Draw) -> str:
    return f"{entry_id}|{d.lot_id}|{d.kind}|{d.issuer}|{d.delta}"


def lot_line(lot: LotExpiry) -> str:
    return f"{lot.lot_id}|{lot.issuer}|{lot.expires_on.isoformat()}|{lot.before}|{lot.after}"


def totals_line(t: Totals) -> str:
    return (
        f"{t.credits}|{t.credit_reversals}|{t.debits}|{t.debit_reversals}|{t.credit_amount}|"
        f"{t.credit_reversal_amount}|{t.debit_amount}|{t.debit_reversal_amount}"
    )


def close_line(c: BatchClose, switch: Totals) -> str:
    """A close as sent (the terminal's totals) and as the journal adds up (the switch's)."""
    return (
        f"{c.id}|{c.terminal_id}|{c.store_id}|{c.batch}|{c.response_code}|"
        f"{totals_line(c.terminal)}|{totals_line(switch)}"
    )


class Digest:
    """Per-section running hashes; `hexdigest` combines them."""

    def __init__(self) -> None:
        self.sections = {name: hashlib.sha256() for name in SECTIONS}
        self.lines = dict.fromkeys(SECTIONS, 0)

    def add(self, section: str, lines: list[str]) -> None:
        if lines:
            self.sections[section].update(("\n".join(lines) + "\n").encode())
            self.lines[section] += len(lines)

    def hexdigest(self, day: str) -> str:
        top = hashlib.sha256(f"{FORMAT}\nday|{day}\n".encode())
        for name in SECTIONS:
            top.update(f"{name}|{self.lines[name]}|{self.sections[name].hexdigest()}\n".encode())
        return top.hexdigest()
