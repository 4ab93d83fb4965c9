"""The inputs' digest: SHA-256 over canonical text of everything a settlement read.

The digest covers every value a settlement reads, so equal digests mean equal files.
Each section (stores, entries, draws, lots, batch closes) is hashed on its own and the
sections' digests are hashed together. Entries and draws, millions a day, are hashed as their
rows' value tuples (`entry_item`, `draw_item`, pickled without memo: `items_digest`) in chunks
of consecutive journal IDs, exactly as SQLite returns them to a reader, so no per-row text is
built and several processes can hash one day; the other sections are text lines.
`tests/settlement` checks that the entry-by-entry path and the SQLite reader give one digest.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from typing import Any

from settlement.records import BatchClose, Draw, LotExpiry, Row, Totals

#: Bump when a line format or the meaning of an output changes: old seals then differ.
FORMAT = "lps-settlement/7"
#: Journal IDs per digest chunk (a power of two: chunk = id >> CHUNK_BITS).
CHUNK_BITS = 16
SECTIONS = ("stores", "entries", "draws", "lots", "closes", "tiers")


def entry_item(r: Row) -> tuple[object, ...]:
    """What settling a day reads of an entry, in the order of `journal.DIGEST_COLS`.

    The rest of an entry (amount, terminal, batch, ...) is read only for the batches being
    reconciled, and those rows are hashed whole in the `closes` section.
    """
    return (r.id, r.kind, r.store_id, r.response_code, r.original_id, r.original_kind)


def draw_item(entry_id: int, d: Draw) -> tuple[object, ...]:
    return (entry_id, d.lot_id, d.kind, d.issuer, d.delta)


def items_digest(items: list[tuple[Any, ...]]) -> str:
    """One chunk of entries or draws: what `Digest.add_items` computes for the whole chunk.

    The bytes hashed are the pickle (protocol 5) of the list of value tuples in fast mode: no
    memo, so they depend on the values only, never on which objects hold them; five times
    quicker than `repr` for the same.
    """
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=5)
    pickler.fast = True
    pickler.dump(items)
    return hashlib.sha256(buf.getbuffer()).hexdigest()


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


def close_lines(c: BatchClose) -> list[str]:
    """A close as sent (the terminal's totals), as the switch recorded it, and the rows read
    to explain a difference (they may be of earlier days, so not among the day's entries)."""
    recorded = totals_line(c.switch) if c.switch is not None else "-"
    head = (f"{c.id}|{c.terminal_id}|{c.store_id}|{c.batch}|{c.response_code}|"
            f"{totals_line(c.terminal)}|{recorded}")
    return [head, *(entry_line(r) for r in c.rows)]


class Digest:
    """Per-section hashes over chunks, combined at the end (see the module docstring).

    Entries and draws go in chunks of `1 << CHUNK_BITS` journal IDs (`add_items`, or
    `add_chunk` for a chunk hashed by a worker); the other sections are one chunk of lines.
    """

    def __init__(self) -> None:
        self.chunks: dict[str, dict[int, tuple[int, str]]] = {name: {} for name in SECTIONS}
        self._lines: dict[str, tuple[Any, int]] = {}
        self._items: dict[str, tuple[int, list[tuple[Any, ...]]]] = {}

    def add(self, section: str, lines: list[str]) -> None:
        """Text lines of a one-chunk section (stores, lots, closes)."""
        if lines:
            h, n = self._lines.get(section) or (hashlib.sha256(), 0)
            h.update(("\n".join(lines) + "\n").encode())
            self._lines[section] = (h, n + len(lines))

    def add_items(self, section: str, chunk: int, items: list[tuple[Any, ...]]) -> None:
        """Rows of entries or draws, in journal order; `chunk` is the entry ID >> CHUNK_BITS."""
        if not items:
            return
        current = self._items.get(section)
        if current is None or current[0] != chunk:
            self._close(section)
            if chunk in self.chunks[section]:
                raise ValueError(f"{section}: chunk {chunk} hashed twice")
            current = (chunk, [])
            self._items[section] = current
        current[1].extend(items)

    def add_chunk(self, section: str, chunk: int, n: int, hexdigest: str) -> None:
        """A chunk hashed elsewhere (a worker process) with `items_digest`."""
        if n:
            if chunk in self.chunks[section]:
                raise ValueError(f"{section}: chunk {chunk} hashed twice")
            self.chunks[section][chunk] = (n, hexdigest)

    def _close(self, section: str) -> None:
        current = self._items.pop(section, None)
        if current is not None:
            self.chunks[section][current[0]] = (len(current[1]), items_digest(current[1]))
        lines = self._lines.pop(section, None)
        if lines is not None:
            self.chunks[section][0] = (lines[1], lines[0].hexdigest())

    def count(self, section: str) -> int:
        self._close(section)
        return sum(n for n, _ in self.chunks[section].values())

    def hexdigest(self, day: str) -> str:
        top = hashlib.sha256(f"{FORMAT}\nday|{day}\n".encode())
        for name in SECTIONS:
            self._close(name)
            for number, (n, hexdigest) in sorted(self.chunks[name].items()):
                top.update(f"{name}|{number}|{n}|{hexdigest}\n".encode())
        return top.hexdigest()
