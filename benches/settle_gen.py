"""The settlement bench's business day, written straight into the switch's SQLite schema.

What the switch itself would have written for the same traffic (switch/journal/batch.py): each
lot issued by a journal row and holding what its moves add up to (L), each card's lots adding
up to its journal rows (C), each terminal batch's `batch_totals` what its approved rows count,
reversals naming their original's card, lots, batch and key. So the journal's own full check
(`lps check --full`, `JournalReader.check(full=True)`) passes on it, and settling it reads what
a real day holds (docs/switch.md, the journal; docs/settlement.md, "Tests and benchmark").

The history, in journal order: a day a year back that issued the older points lots (three per
card, by earns at their stores) and the purses (top-ups); the day before, with burns a
reversal may undo across midnight; the day itself, about `n` entries: 55% earns (a new lot
each), 22% burns drawing 1-3 of the card's older lots, 5% declined burns, 4% reversals (a fifth
of them of the day before's burns), 5% inquiries, 3% purse spends (a purse of any store), 2%
top-ups, 4% network messages; then every terminal's batch closed (1% short by a transaction).
2% of the older lots lapse on the day; the day before's burns may draw from them, so a
reversal can give points back to a lot that has lapsed.

Speed: one transaction, `executemany` over generated tuples, the tables' indexes dropped for
the load and built again at the end (sorted, not one random B-tree insert a row), and a file
nobody else reads until it is renamed (no rollback journal, no fsync).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import random
import sqlite3
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from switch.journal.sqlite.schema import migrate

#: Bump when the generated rows change: cached databases are named with it.
VERSION = 2
DAY = dt.date(2026, 6, 15)
STORES = 500
CARDS = 1_000_000
COALITION = "bench"
#: When the older lots were earned; their expiry unless they lapse on DAY.
OLD_DAY, OLD_EXPIRY = dt.date(2025, 6, 15), "2027-01-01"
#: Each terminal's batch on the old day, the day before and the day (closed at its end).
OLD_BATCH, PREV_BATCH, DAY_BATCH = "000098", "000099", "000100"
#: Older points lots per card; their size, and a purse's top-up and its credit.
LOTS_PER_CARD, OLD_LOT = 3, 10_000
PURSE_TOPUP, PURSE_CREDIT = 2_000_000, 2_300_000
#: Journal rows per `executemany`.
FLUSH = 100_000

#: The columns written, named: a column a later migration adds keeps its default.
JOURNAL_COLUMNS = (
    "id, at, business_day, kind, mti, pc, terminal_id, store_id, coalition_id, pan, stan, "
    "transmission, rrn, amount, points, sv, response_code, batch, digest, original_id, "
    "original_stan, original_transmission, response, detail"
)
#: The coalition, the request digest and the stored reply are the same in every row: written
#: as literals, three parameters fewer to bind a row.
JOURNAL_SQL = (f"INSERT INTO journal ({JOURNAL_COLUMNS}) VALUES "
               f"({','.join('?' * 8)},'{COALITION}',{','.join('?' * 9)},'',?,?,?,NULL,?)")
LOTS_SQL = "INSERT INTO lots VALUES (?,?,?,?,?,?,?,?,?,?)"
MOVES_SQL = "INSERT INTO lot_moves VALUES (?,?,?,?,?,?)"
#: The 0500's fields (docs/protocol.md §4) in the order of `Totals` (switch/core/model.py).
TOTALS_DES = ("74", "86", "75", "87", "76", "88", "77", "89")
CREDITS, CREDIT_AMOUNT, DEBITS, DEBIT_AMOUNT, DEBIT_REVERSALS, DEBIT_REVERSAL_AMOUNT = (
    0, 1, 4, 5, 6, 7)


def store_ids(stores: int = STORES) -> list[str]:
    return [f"BENCH{i:010d}" for i in range(stores)]


def card_number(i: int) -> str:
    """Card `i`: 628000, nine digits, and the Luhn check digit (the switch refuses others)."""
    body = f"628000{i:09d}"
    total = 0
    for k, c in enumerate(reversed(body)):
        d = ord(c) - 48
        if k % 2 == 0:  # doubled: the check digit will stand to its right
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str(-total % 10)


class _Day:
    """The rows of one generated history, produced in journal order by `batches`."""

    def __init__(self, n: int, seed: int, cards: int, stores: int) -> None:
        self.n, self.rng = n, random.Random(seed)
        self.rand = rand = self.rng.random
        self.sids = store_ids(stores)
        self.terms = [(f"B{i:07d}", self.sids[i // 2]) for i in range(2 * stores)]
        self.stans = [0] * len(self.terms)
        self.pans = [card_number(i) for i in range(cards)]
        self.journal: list[tuple[Any, ...]] = []
        self.lots: list[tuple[Any, ...]] = []
        self.moves: list[tuple[Any, ...]] = []
        #: batch -> each terminal's totals in that batch, in `Totals` order (migration 7).
        self.totals = {b: [[0] * 8 for _ in self.terms] for b in (OLD_BATCH, PREV_BATCH,
                                                                 DAY_BATCH)}
        self.jid = 0
        self.day = self.at = self.sent = self.batch = ""
        # Older points lots: LOTS_PER_CARD consecutive ones per card, each of a random store.
        self.groups = max(n // 12, 334)
        self.pool = pool = self.groups * LOTS_PER_CARD
        self.lot_store = array("l", (int(rand() * stores) for _ in range(pool)))
        self.lapsing = bytearray(pool)
        for lot in self.rng.sample(range(pool), pool // 50):
            self.lapsing[lot] = 1
        self.left = array("q", [OLD_LOT]) * pool
        # Purses (stored value): one lot each, topped up at a random store.
        self.purses = max(n // 50, 100)
        self.purse_store = array("l", (int(rand() * stores) for _ in range(self.purses)))
        self.purse_left = array("q", [PURSE_CREDIT]) * self.purses
        self.next_lot = pool + self.purses + 1
        # Burns a reversal may undo: journal id, terminal, stan, draws (flat), open ones.
        self.burn_id, self.burn_term, self.burn_stan = array("q"), array("l"), array("l")
        self.burn_draw = array("q", [0])  # burn b's draws are draw_lot[burn_draw[b]:...[b+1]]
        self.draw_lot, self.draw_points = array("q"), array("l")
        self.open_prev, self.open_today = array("q"), array("q")

    # -- cards, lots and terminals by index -------------------------------------------------

    def group_card(self, group: int) -> str:
        return self.pans[group * 7919 % len(self.pans)]

    def purse_card(self, purse: int) -> str:
        return self.pans[(purse * 104_729 + 1) % len(self.pans)]

    def term_of(self, store: int) -> int:
        """One of the store's two terminals."""
        return 2 * store + (self.rand() < 0.5)

    def any_term(self) -> int:
        return int(self.rand() * len(self.terms))

    def any_card(self) -> str:
        return self.pans[int(self.rand() * len(self.pans))]

    # -- one journal row ------------------------------------------------------------------

    def on(self, day: dt.date, batch: str) -> None:
        """The rows that follow are of business day `day`, counted in each terminal's `batch`."""
        self.day, self.batch = day.isoformat(), batch
        self.at, self.sent = f"{self.day}T10:00:00+00:00", transmission(self.day)

    def row(self, kind: str, mti: str, pc: str, term: int, pan: str, amount: int, points: int,
            sv: int, rc: str, original: tuple[int, str, str] | None = None,
            detail: str | None = None) -> int:
        """A journal row (`JOURNAL_SQL`'s parameters); its terminal's next STAN."""
        self.jid = jid = self.jid + 1
        tid, sid = self.terms[term]
        self.stans[term] = stan = self.stans[term] % 999_999 + 1
        oid, ostan, otrans = original or (None, None, None)
        self.journal.append((
            jid, self.at, self.day, kind, mti, pc, tid, sid, pan, f"{stan:06d}",
            self.sent, f"{jid:012d}", amount, points, sv, rc, self.batch, oid,
            ostan, otrans, detail))
        return jid

    def count(self, term: int, batch: str, column: int, amount: int) -> None:
        """An approved counted row (or one undone) in its batch's totals (migration 7)."""
        t = self.totals[batch][term]
        t[column] += 1
        t[column + 1] += amount

    def new_lot(self) -> int:
        self.next_lot += 1
        return self.next_lot - 1

    # -- the kinds of entry -----------------------------------------------------------------

    def earn(self, term: int, pan: str, amount: int, lot: int | None = None) -> None:
        """An earn (a point per 10,000 of the amount) issuing a new lot of the day; an older
        lot, `lot`, is written by `tables` with what is left of it."""
        points = amount // 10_000
        j = self.row("earn", "0200", "000000", term, pan, amount, points, 0, "00")
        store = self.terms[term][1]
        if lot is None:  # the day's lots are never drawn from after
            lot = self.new_lot()
            self.lots.append((lot, pan, "points", store, COALITION, self.day, "2027-06-15",
                              points, points, j))
        self.moves.append((j, lot, pan, "points", store, points))
        self.count(term, self.batch, CREDITS, amount)

    def burn(self, usable: bool) -> None:
        """A redemption drawing 1-3 of one card's older lots (`usable`: none lapsing on DAY)."""
        rand, left, lapsing = self.rand, self.left, self.lapsing
        while True:
            group = int(rand() * self.groups)
            first, want = int(rand() * LOTS_PER_CARD), 1 + int(rand() * LOTS_PER_CARD)
            base = group * LOTS_PER_CARD
            lots = [base + (first + k) % LOTS_PER_CARD for k in range(LOTS_PER_CARD)]
            lots = [lot for lot in lots if left[lot] and not (usable and lapsing[lot])]
            if lots:
                break
        drawn = [(lot, min(1 + int(rand() * 39), left[lot])) for lot in lots[:want]]
        pts = sum(p for _, p in drawn)
        pan = self.group_card(group)
        term = self.any_term()
        j = self.row("redeem", "0200", "900000", term, pan, pts * 1000, -pts, 0, "00")
        for lot, p in drawn:
            self.moves.append((j, lot + 1, pan, "points", self.sids[self.lot_store[lot]], -p))
            left[lot] -= p
            self.draw_lot.append(lot)
            self.draw_points.append(p)
        b = len(self.burn_id)
        self.burn_id.append(j)
        self.burn_term.append(term)
        self.burn_stan.append(self.stans[term])
        self.burn_draw.append(len(self.draw_lot))
        (self.open_today if self.batch == DAY_BATCH else self.open_prev).append(b)
        self.count(term, self.batch, DEBITS, pts * 1000)

    def reverse(self, source: array[int], original_day: str, batch: str) -> None:
        """A reversal of an open burn of `source` (made on `original_day` in `batch`): the same
        card, terminal and lots, counted as undone in the original's batch."""
        k = int(self.rand() * len(source))
        b = source[k]
        source[k] = source[-1]
        source.pop()
        lo, hi = self.burn_draw[b], self.burn_draw[b + 1]
        lots, pts = self.draw_lot[lo:hi], self.draw_points[lo:hi]
        term, amount = self.burn_term[b], sum(pts) * 1000
        pan = self.group_card(lots[0] // LOTS_PER_CARD)
        original = (self.burn_id[b], f"{self.burn_stan[b]:06d}", transmission(original_day))
        j = self.row("reversal", "0400", "900000", term, pan, amount, sum(pts), 0, "00",
                     original, '{"undone":true}')
        for lot, p in zip(lots, pts, strict=True):
            self.moves.append((j, lot + 1, pan, "points", self.sids[self.lot_store[lot]], p))
            self.left[lot] += p
        self.count(term, batch, DEBIT_REVERSALS, amount)

    def spend(self) -> None:
        """A purse spent at any store (the coalition's purse: the issuer may be another)."""
        rand = self.rand
        amount = (1 + int(rand() * 199)) * 1000
        purse = int(rand() * self.purses)
        while self.purse_left[purse] < amount:
            purse = int(rand() * self.purses)
        pan = self.purse_card(purse)
        term = self.any_term()
        j = self.row("sv_purchase", "0200", "006000", term, pan, amount, 0, -amount, "00")
        self.moves.append((j, self.pool + purse + 1, pan, "sv",
                           self.sids[self.purse_store[purse]], -amount))
        self.purse_left[purse] -= amount
        self.count(term, self.batch, DEBITS, amount)

    def topup(self, term: int, pan: str, amount: int, credit: int, lot: int | None = None
              ) -> None:
        """A top-up making a purse lot of its store (`lot`: an older purse, as `earn`)."""
        j = self.row("topup", "0200", "210060", term, pan, amount, 0, credit, "00")
        store = self.terms[term][1]
        if lot is None:
            lot = self.new_lot()
            self.lots.append((lot, pan, "sv", store, COALITION, self.day, None, credit, credit,
                              j))
        self.moves.append((j, lot, pan, "sv", store, credit))

    # -- the history --------------------------------------------------------------------------

    def flush(self) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
        for sql, rows in ((JOURNAL_SQL, self.journal), (LOTS_SQL, self.lots),
                          (MOVES_SQL, self.moves)):
            if rows:
                yield sql, rows
        self.journal, self.lots, self.moves = [], [], []

    def batches(self) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
        """(statement, rows) in journal order; the older lots and purses come last, once
        what is left of them is known."""
        self.on(OLD_DAY, OLD_BATCH)
        for lot in range(self.pool):
            self.earn(self.term_of(self.lot_store[lot]), self.group_card(lot // LOTS_PER_CARD),
                      OLD_LOT * 10_000, lot + 1)
            if len(self.journal) >= FLUSH:
                yield from self.flush()
        for purse in range(self.purses):
            self.topup(self.term_of(self.purse_store[purse]), self.purse_card(purse),
                       PURSE_TOPUP, PURSE_CREDIT, self.pool + purse + 1)
        prev = DAY - dt.timedelta(days=1)
        self.on(prev, PREV_BATCH)
        for _ in range(max(self.n // 100, 10)):  # valid the day before: lapsing lots too
            self.burn(usable=False)
        yield from self.flush()
        self.on(DAY, DAY_BATCH)
        rand, any_term, any_card = self.rand, self.any_term, self.any_card
        for _ in range(self.n):
            x = rand()
            if x < 0.55:
                self.earn(any_term(), any_card(), (10 + int(rand() * 1990)) * 1000)
            elif x < 0.77:
                self.burn(usable=True)
            elif x < 0.82:
                self.row("redeem", "0200", "900000", any_term(), any_card(), 50_000, 0, 0, "51")
            elif x < 0.86 and (self.open_today or self.open_prev):
                if self.open_prev and (not self.open_today or rand() < 0.2):
                    self.reverse(self.open_prev, prev.isoformat(), PREV_BATCH)
                else:
                    self.reverse(self.open_today, self.day, DAY_BATCH)
            elif x < 0.91:
                self.row("inquiry", "0200", "310000", any_term(), any_card(), 0, 0, 0, "00")
            elif x < 0.94:
                self.spend()
            elif x < 0.96:
                self.topup(any_term(), any_card(), 100_000, 115_000)
            else:
                self.row("network", "0800", "", any_term(), "", 0, 0, 0, "00")
            if len(self.journal) >= FLUSH:
                yield from self.flush()
        self.close_batches()
        yield from self.flush()
        yield from self.tables()

    def close_batches(self) -> None:
        """Every terminal's 0500: its totals and the switch's (1% short by a debit)."""
        for term, ours in enumerate(self.totals[DAY_BATCH]):
            theirs = list(ours)
            short = term % 100 == 7 and ours[DEBITS] > 0
            if short:
                theirs[DEBITS] -= 1
            detail = {"terminal": dict(zip(TOTALS_DES, theirs, strict=True)),
                      "switch": dict(zip(TOTALS_DES, ours, strict=True))}
            self.row("batch_close", "0500", "920000", term, "", 0, 0, 0, "95" if short else "00",
                     detail=json.dumps(detail))

    def tables(self) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
        """The older lots and purses as they stand, cards, terminals and batch totals (a row
        for each batch that counted something, as the switch makes them)."""
        old, stores, pool = OLD_DAY.isoformat(), self.sids, self.pool
        for start in range(0, pool, FLUSH):
            yield LOTS_SQL, [
                (lot + 1, self.group_card(lot // LOTS_PER_CARD), "points",
                 stores[self.lot_store[lot]], COALITION, old,
                 DAY.isoformat() if self.lapsing[lot] else OLD_EXPIRY, OLD_LOT, self.left[lot],
                 lot + 1) for lot in range(start, min(start + FLUSH, pool))]
        yield LOTS_SQL, [
            (pool + p + 1, self.purse_card(p), "sv", stores[self.purse_store[p]], COALITION, old,
             None, PURSE_CREDIT, self.purse_left[p], pool + p + 1) for p in range(self.purses)]
        yield ("INSERT INTO cards (pan, coalition_id, status, enrolled_on) VALUES (?,?,?,?)",
               [(pan, COALITION, "active", "2025-01-01") for pan in self.pans])
        yield ("INSERT INTO terminals (id, store_id, signed_on) VALUES (?,?,?)",
               [(tid, sid, True) for tid, sid in self.terms])
        yield ("INSERT INTO batch_totals VALUES (?,?,?,?,?,?,?,?,?,?)",
               [(tid, batch, *t) for batch, per_term in self.totals.items()
                for (tid, _), t in zip(self.terms, per_term, strict=True) if any(t)])


@functools.cache
def transmission(day: str) -> str:
    """DE7 (MMDDhhmmss) of a request sent at 10:00 on `day`."""
    return f"{day[5:7]}{day[8:10]}100000"


def generate(path: Path, n: int, seed: int = 1, cards: int = CARDS, stores: int = STORES
             ) -> None:
    """Write the history with a day of about `n` entries into `path` (replaced whole)."""
    tmp = path.with_suffix(".tmp")
    for file in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
        file.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        migrate(conn)
        indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                               "AND sql IS NOT NULL ORDER BY rowid").fetchall()
        # A throw-away file until the rename: no rollback journal, no fsync.
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-262144",
                       "locking_mode=EXCLUSIVE"):
            conn.execute(f"PRAGMA {pragma}")
        conn.execute("BEGIN")
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        for sql, rows in _Day(n, seed, cards, stores).batches():
            conn.executemany(sql, rows)
        for _, sql in indexes:
            conn.execute(sql)
        conn.execute("COMMIT")
        conn.execute("PRAGMA locking_mode=NORMAL")
        conn.execute("PRAGMA journal_mode=WAL")  # as the switch opens it (sqlite/connect.py)
    finally:
        conn.close()
    os.chmod(tmp, 0o600)  # the switch's database is 0600 (switch/filemode.py)
    os.replace(tmp, path)
