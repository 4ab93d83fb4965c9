"""Reading a business day from the switch's SQLite journal (read-only).

The day's journal IDs are cut into chunks (`digest.CHUNK_BITS`); reader processes fetch each
chunk's entries (only the columns settling reads) and lot moves, hash them, count them and sum
the inter-store flows, and the main process merges their small results. Memory stays bounded by
a chunk, the number of store pairs and the lots due, not by the day. The 0500 totals the switch
recorded are compared as they are; only a batch out of balance has its rows read. Tables and
columns are the switch's (`switch/store.py`, docs/switch.md); this module never writes.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import os
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

from settlement import tiers
from settlement.day import DayBook
from settlement.digest import CHUNK_BITS, items_digest
from settlement.fees import ISSUED, ISSUING_KINDS, REDEEMED
from settlement.netting import MOVING_KINDS
from settlement.records import (
    ADVICE,
    BATCH_CLOSE,
    EARN,
    POINTS,
    REDEEM,
    REVERSAL,
    SV_PURCHASE,
    BatchClose,
    Draw,
    InputError,
    InvariantError,
    LotExpiry,
    Row,
    SettlementError,
    Totals,
)
from settlement.tiers import Downgrade

CHUNK = 50_000
#: A batch may hold transactions of up to this many business days before its close (terminals
#: close their batch daily; a longer-open batch needs a larger --batch-lookback-days).
BATCH_LOOKBACK_DAYS = 1

#: What settling reads of an entry, as the digest hashes it (`digest.entry_item`).
DIGEST_COLS = (
    "j.id, j.kind, ifnull(j.store_id, ''), ifnull(j.response_code, ''), j.original_id, "
    "ifnull(o.kind, '')"
)
#: An entry whole, as `_row` makes a `Row` of it: text never NULL.
ENTRY_COLS = (
    "j.id, j.business_day, j.kind, ifnull(j.mti, ''), ifnull(j.pc, ''), "
    "ifnull(j.terminal_id, ''), ifnull(j.store_id, ''), ifnull(j.pan, ''), j.amount, j.points, "
    "j.sv, ifnull(j.response_code, ''), ifnull(j.batch, ''), ifnull(j.rrn, ''), j.original_id, "
    "ifnull(o.kind, '')"
)
#: Entries that can touch a lot that has lapsed: earns make new lots and burns skip lapsed
#: ones (the switch's burn order), so only these others can (reversals, returns, ...).
NOT_TOUCHING_LAPSED = (EARN, ADVICE, REDEEM, SV_PURCHASE)

Progress = Callable[[int], None]


def _noop(_: int) -> None:
    return None


class Journal:
    """A read-only view of the switch's database, one snapshot per `with` block."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"{self.path}: no such journal database")
        try:
            self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                        isolation_level=None)
            tables = {r[0] for r in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{self.path}: not a readable SQLite database: {exc}") from None
        missing = {"journal", "lots", "lot_moves"} - tables
        if missing:
            raise InputError(
                f"{self.path}: not an LPS journal (missing tables {', '.join(sorted(missing))})")
        self.conn.execute("PRAGMA busy_timeout=5000")

    def __enter__(self) -> Journal:
        # One read transaction: the switch may keep writing, settlement sees one snapshot.
        self.conn.execute("BEGIN")
        self.conn.execute("SELECT 1 FROM journal LIMIT 1").fetchall()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

    def q(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise SettlementError(f"{self.path}: {exc} (in: {sql[:80]}...)") from exc

    # -- facts about days ---------------------------------------------------------------------

    def day_size(self, day: dt.date) -> int:
        return int(self.q("SELECT COUNT(*) FROM journal WHERE business_day = ?",
                          (day.isoformat(),)).fetchone()[0])

    # -- the aggregated path (production) -----------------------------------------------------

    def bounds(self, day: dt.date) -> tuple[int, int] | None:
        """The first and last journal ID of a business day (from the day index)."""
        lo, hi = self.q("SELECT MIN(id), MAX(id) FROM journal WHERE business_day = ?",
                        (day.isoformat(),)).fetchone()
        return None if lo is None else (int(lo), int(hi))

    def feed(self, book: DayBook, progress: Progress = _noop, workers: int = 0) -> Scan:
        """Hash, count and net the day into `book`, one chunk of journal IDs per task.

        With `workers` > 1 the chunks are read by that many processes at once (each with its
        own read-only connection: a closed business day's rows no longer change, the journal
        being append-only); the results are merged in chunk order, so the outcome is the same
        for any number of workers.
        """
        scan = Scan()
        span = self.bounds(book.day)
        if span is None:
            return scan
        spans = windows(*span)
        workers = workers or min(os.cpu_count() or 1, len(spans))
        # About four tasks per worker: balanced, and few results for this process to merge.
        size = max(1, -(-len(spans) // (4 * workers)))
        tasks = [(str(self.path), book.day.isoformat(), spans[i:i + size])
                 for i in range(0, len(spans), size)]
        if workers > 1 and len(tasks) > 1:
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                for part in pool.map(scan_windows, tasks):
                    scan.merge(book, part)
                    progress(part.entries)
        else:
            for task in tasks:
                part = scan_windows(task)
                scan.merge(book, part)
                progress(part.entries)
        if scan.error:
            raise InputError(scan.error)
        read, indexed = book.entries, self.day_size(book.day)
        if read != indexed:
            raise InvariantError(f"{book.day}: read {read} entries, the day has {indexed}")
        scan.last_id = span[1]
        return scan

    def lots_due(self, day: dt.date, scan: Scan | None = None) -> Iterator[LotExpiry]:
        """Points lots unusable on `day`: those lapsing today, and lapsed ones touched today.

        Their remaining at the end of `day` is the lot's remaining now minus what later days
        moved; before it, minus what `day` moved too. With a `scan` of the day the day's moves
        are already summed (by lot, for the entries that can touch a lapsed lot).
        """
        if scan is not None:
            yield from self._lots_due_scanned(day, scan)
            return
        d = day.isoformat()
        others = ", ".join(f"'{k}'" for k in NOT_TOUCHING_LAPSED)
        sql = f"""
        WITH later AS (
            SELECT m.lot_id, SUM(m.delta) s FROM journal j JOIN lot_moves m
              ON m.journal_id = j.id
            WHERE j.business_day > :d AND j.kind NOT IN ({others}) GROUP BY m.lot_id),
        today AS (
            SELECT m.lot_id, SUM(m.delta) s FROM journal j JOIN lot_moves m
              ON m.journal_id = j.id
            WHERE j.business_day = :d AND j.kind NOT IN ({others}) GROUP BY m.lot_id)
        SELECT l.id, l.store_id, l.expires_on,
               l.remaining - ifnull(later.s, 0) - ifnull(today.s, 0),
               l.remaining - ifnull(later.s, 0)
        FROM lots l LEFT JOIN later ON later.lot_id = l.id LEFT JOIN today ON today.lot_id = l.id
        WHERE l.kind = '{POINTS}' AND l.expires_on IS NOT NULL AND l.expires_on <= :d
          AND (l.expires_on = :d OR today.lot_id IS NOT NULL)
        ORDER BY l.id"""
        cur = self.q(sql, {"d": d})
        while rows := cur.fetchmany(CHUNK):
            for lid, store, expires, before, after in rows:
                yield LotExpiry(lid, store, dt.date.fromisoformat(expires), before, after)

    def _lots_due_scanned(self, day: dt.date, scan: Scan) -> Iterator[LotExpiry]:
        d = day.isoformat()
        others = ", ".join(f"'{k}'" for k in NOT_TOUCHING_LAPSED)
        later = dict(self.q(
            "SELECT m.lot_id, SUM(m.delta) FROM lot_moves m JOIN journal j ON j.id = m.journal_id"
            f" WHERE m.journal_id > ? AND j.business_day > ? AND j.kind NOT IN ({others}) "
            "GROUP BY m.lot_id", (scan.last_id, d)).fetchall())
        found: dict[int, tuple[str, str, int]] = {}
        for lid, store, expires, remaining in self.q(
            "SELECT id, store_id, expires_on, remaining FROM lots "
            "WHERE kind = 'points' AND expires_on = ?", (d,)
        ):
            found[lid] = (store, expires, remaining)
        touched = sorted(scan.touched)
        for i in range(0, len(touched), 900):
            part = touched[i:i + 900]
            for lid, store, expires, remaining in self.q(
                "SELECT id, store_id, expires_on, remaining FROM lots WHERE kind = 'points' AND "
                f"expires_on < ? AND id IN ({','.join('?' * len(part))})", (d, *part)
            ):
                found[lid] = (store, expires, remaining)
        for lid in sorted(found):
            store, expires, remaining = found[lid]
            after = remaining - later.get(lid, 0)
            yield LotExpiry(lid, store, dt.date.fromisoformat(expires),
                            after - scan.touched.get(lid, 0), after)

    def batch_closes(self, day: dt.date, lookback: int = BATCH_LOOKBACK_DAYS,
                     scan: Scan | None = None, workers: int = 0) -> list[BatchClose]:
        """The day's 0500s: the terminal's totals and those the switch recorded at the close.

        For a batch where the two differ the batch's rows are read (its transactions of the
        last `lookback` days and their reversals), so the reconciliation can both recompute the
        switch's side from the journal and find the transactions that explain the difference.
        """
        d = day.isoformat()
        raw = scan.closes if scan is not None else self.q(
            "SELECT id, terminal_id, store_id, batch, response_code, detail FROM journal "
            "WHERE business_day = ? AND kind = 'batch_close' ORDER BY id", (d,)).fetchall()
        closes = []
        for cid, tid, store, batch, rc, detail in raw:
            try:
                doc = json.loads(detail) if detail else {}
                terminal = doc.get("terminal")
                recorded = doc.get("switch")
                if terminal is None:  # a refused 0500 (wrong processing code): nothing to match
                    continue
                theirs = Totals.from_fields({int(k): int(v) for k, v in terminal.items()})
                ours = (Totals.from_fields({int(k): int(v) for k, v in recorded.items()})
                        if recorded is not None else None)
            except (ValueError, AttributeError, TypeError):
                raise InputError(f"journal entry {cid}: unreadable batch totals") from None
            closes.append(BatchClose(cid, tid or "", store or "", batch or "", rc or "",
                                     theirs, ours))
        wanted = [c for c in closes if c.switch != c.terminal]
        if not wanted:
            return closes
        first = self.q("SELECT MIN(id) FROM journal WHERE business_day >= ?",
                       ((day - dt.timedelta(days=lookback)).isoformat(),)).fetchone()[0]
        last = max(c.id for c in wanted)
        keys = sorted({(c.terminal_id, c.batch) for c in wanted})
        tasks = [(str(self.path), lo, hi, keys) for lo, hi in windows(first, last)]
        workers = workers or min(os.cpu_count() or 1, len(tasks))
        found: list[tuple[Any, ...]] = []
        if workers > 1 and len(tasks) > 1:
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                for part in pool.map(batch_window, tasks):
                    found += part
        else:
            for task in tasks:
                found += batch_window(task)
        by_batch: dict[tuple[str, str], list[Row]] = {}
        reversals: dict[int, list[Row]] = {}
        for t in found:
            r = _row(t)
            if r.kind == REVERSAL:
                if r.original_id is not None:
                    reversals.setdefault(r.original_id, []).append(r)
            else:
                by_batch.setdefault((r.terminal_id, r.batch), []).append(r)
        out = []
        for c in closes:
            if c.switch == c.terminal:
                out.append(c)
                continue
            txns = [r for r in by_batch.get((c.terminal_id, c.batch), ()) if r.id < c.id]
            revs = [v for r in txns for v in reversals.get(r.id, ()) if v.id < c.id]
            out.append(BatchClose(c.id, c.terminal_id, c.store_id, c.batch, c.response_code,
                                  c.terminal, c.switch, tuple(sorted(txns + revs,
                                                                     key=lambda r: r.id))))
        return out

    def downgrades(self, day: dt.date,
                   coalitions: Mapping[str, Any] | None) -> list[Downgrade]:
        """The night's tier downgrades (none without the coalitions' tiers)."""
        return list(tiers.downgrades(self.q, coalitions, day)) if coalitions else []

    # -- reports ------------------------------------------------------------------------------

    def lots_at(self, day: dt.date) -> dict[str, tuple[int, int]]:
        """Per issuing store at the end of `day`: (positive remaining of lapsed points lots,
        remaining of live ones), each lot's remaining being now's less what later days moved."""
        d = day.isoformat()
        out = {}
        for store, lapsed, live in self.q(
            """WITH later AS (
                 SELECT m.lot_id, SUM(m.delta) s FROM journal j
                 JOIN lot_moves m ON m.journal_id = j.id
                 WHERE j.business_day > :d GROUP BY m.lot_id)
               SELECT l.store_id,
                 SUM(CASE WHEN l.expires_on IS NOT NULL AND l.expires_on <= :d
                     THEN max(l.remaining - ifnull(later.s, 0), 0) ELSE 0 END),
                 SUM(CASE WHEN l.expires_on IS NULL OR l.expires_on > :d
                     THEN l.remaining - ifnull(later.s, 0) ELSE 0 END)
               FROM lots l LEFT JOIN later ON later.lot_id = l.id
               WHERE l.kind = 'points' AND l.earned_on <= :d GROUP BY l.store_id""",
            {"d": d},
        ):
            out[store] = (int(lapsed or 0), int(live or 0))
        return out

    def new_members(self, start: dt.date, end: dt.date) -> tuple[dict[str, int], dict[str, int]]:
        """Cards whose first approved transaction at a store is in the range, per store; and
        cards enrolled in the range, per coalition."""
        s, e = start.isoformat(), end.isoformat()
        by_store = dict(self.q(
            "SELECT store_id, COUNT(*) FROM (SELECT store_id, pan, MIN(business_day) first "
            "FROM journal WHERE response_code = '00' AND pan != '' AND kind IN "
            "('earn', 'advice', 'redeem', 'sv_purchase', 'topup') GROUP BY store_id, pan) "
            "WHERE first BETWEEN ? AND ? GROUP BY store_id", (s, e)).fetchall())
        by_coalition = dict(self.q(
            "SELECT coalition_id, COUNT(*) FROM cards WHERE enrolled_on BETWEEN ? AND ? "
            "GROUP BY coalition_id", (s, e)).fetchall())
        return by_store, by_coalition

    # -- the per-entry path (tests, verification, reports) ------------------------------------

    def rows(self, day: dt.date) -> Iterator[Row]:
        """The day's entries with their draws, in journal order."""
        return self._rows("j.business_day = ?", (day.isoformat(),))

    def rows_between(self, start: dt.date, end: dt.date, draws: bool = True) -> Iterator[Row]:
        return self._rows("j.business_day BETWEEN ? AND ?",
                          (start.isoformat(), end.isoformat()), draws=draws)

    def _rows(self, where: str, params: tuple[Any, ...], draws: bool = True) -> Iterator[Row]:
        cur = self.q(
            f"SELECT {ENTRY_COLS} FROM journal j LEFT JOIN journal o ON o.id = j.original_id "
            f"WHERE {where} ORDER BY j.id", params)
        moves = self.conn.cursor()
        while chunk := cur.fetchmany(CHUNK):
            by_entry: dict[int, list[Draw]] = {}
            if draws:
                lo, hi = chunk[0][0], chunk[-1][0]
                for jid, lot, kind, store, delta in moves.execute(
                    "SELECT journal_id, lot_id, kind, store_id, delta FROM lot_moves "
                    "WHERE journal_id BETWEEN ? AND ? ORDER BY journal_id, rowid", (lo, hi)
                ):
                    by_entry.setdefault(jid, []).append(Draw(lot, kind, store, delta))
            for t in chunk:
                yield _row(t, tuple(by_entry.get(t[0], ())))


def _row(t: tuple[Any, ...], draws: tuple[Draw, ...] = ()) -> Row:
    """A Row from `ENTRY_COLS` values (`digest.entry_item` gives them back unchanged)."""
    (jid, day, kind, mti, pc, tid, store, pan, amount, points, sv, rc, batch, rrn, oid,
     okind) = t
    return Row(jid, dt.date.fromisoformat(day), kind, mti, pc, tid, store, pan, amount, points,
               sv, rc, batch, rrn, oid, okind, draws)


def windows(lo: int, hi: int) -> list[tuple[int, int]]:
    """[lo, hi] cut at the digest's chunk boundaries (one task per chunk)."""
    first, last = lo >> CHUNK_BITS, hi >> CHUNK_BITS
    return [(max(lo, c << CHUNK_BITS), min(hi, ((c + 1) << CHUNK_BITS) - 1))
            for c in range(first, last + 1)]


def _connect(path: str) -> sqlite3.Connection:
    # No mmap: it would count the whole file in each reader's resident memory for no gain.
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


@dataclass(slots=True)
class Part:
    """What some chunks of a day's journal IDs contribute (picklable, from a worker)."""

    #: (chunk, entries, their digest, draws, their digest) per chunk read.
    chunks: list[tuple[int, int, str, int, str]] = field(default_factory=list)
    entries: int = 0
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    pairs: dict[tuple[str, str, str], int] = field(default_factory=dict)
    settling: int = 0
    touched: dict[int, int] = field(default_factory=dict)
    closes: list[tuple[Any, ...]] = field(default_factory=list)
    error: str = ""
    #: (fees.ISSUED or fees.REDEEMED, store) -> points (`settlement.fees.activity_of`).
    activity: dict[tuple[str, str], int] = field(default_factory=dict)


@dataclass(slots=True)
class Scan:
    """The merged parts: what `lots_due` and `batch_closes` need besides the book."""

    touched: dict[int, int] = field(default_factory=dict)
    closes: list[tuple[Any, ...]] = field(default_factory=list)
    error: str = ""
    last_id: int = 0

    def merge(self, book: DayBook, part: Part) -> None:
        for chunk, entries, edigest, draws, ddigest in part.chunks:
            book.add_chunk("entries", chunk, entries, edigest)
            book.add_chunk("draws", chunk, draws, ddigest)
        for (kind, rc), n in part.counts.items():
            book.add_count(kind, rc, n)
        for (kind, payer, payee), units in part.pairs.items():
            book.add_flow(kind, payer, payee, units)
        book.add_settling(part.settling)
        for (measure, store), points in part.activity.items():
            book.add_activity(measure, store, points)
        for lot, delta in part.touched.items():
            self.touched[lot] = self.touched.get(lot, 0) + delta
        self.closes += part.closes
        self.error = self.error or part.error


def scan_windows(task: tuple[str, str, list[tuple[int, int]]]) -> Part:
    """Read several chunks, summing what they contribute (fewer, larger results to merge)."""
    path, day, spans = task
    total = Part()
    conn = _connect(path)
    try:
        for lo, hi in spans:
            part = scan_window(conn, day, lo, hi)
            total.chunks += part.chunks
            total.entries += part.entries
            for key, n in part.counts.items():
                total.counts[key] = total.counts.get(key, 0) + n
            for pair, units in part.pairs.items():
                total.pairs[pair] = total.pairs.get(pair, 0) + units
            total.settling += part.settling
            for key, points in part.activity.items():
                total.activity[key] = total.activity.get(key, 0) + points
            for lot, delta in part.touched.items():
                total.touched[lot] = total.touched.get(lot, 0) + delta
            total.closes += part.closes
            total.error = total.error or part.error
    finally:
        conn.close()
    return total


def scan_window(conn: sqlite3.Connection, day: str, lo: int, hi: int) -> Part:
    """Read journal IDs [lo, hi] of `day`: digest, counts, flows, moves of lapsed lots."""
    rows = conn.execute(
        f"SELECT {DIGEST_COLS} FROM journal j LEFT JOIN journal o ON o.id = j.original_id "
        "WHERE j.id BETWEEN ? AND ? AND j.business_day = ? ORDER BY j.id",
        (lo, hi, day)).fetchall()
    part = Part(entries=len(rows))
    if not rows:
        return part
    # Columns: 0 id, 1 kind, 2 store, 3 response code, 4 original ID, 5 original's kind
    part.counts = dict(Counter(map(itemgetter(1, 3), rows)))
    spend: dict[int, tuple[str, int]] = {}
    # What the per-point fees count (settlement.fees.activity_of): entry -> its measure and
    # the store credited when the lot's issuer is not (redemptions count at the acceptor).
    counted: dict[int, tuple[str, str | None]] = {}
    declined: dict[int, str] = {}
    touch: set[int] = set()
    closes: list[int] = []
    for r in rows:
        kind, rc = r[1], r[3]
        if rc == "00":
            effective = r[5] if kind == REVERSAL else kind
            if effective in ISSUING_KINDS:
                counted[r[0]] = (ISSUED, None)
            elif effective == REDEEM:
                counted[r[0]] = (REDEEMED, r[2])
        if rc != "00":
            declined[r[0]] = rc
        elif kind in NOT_TOUCHING_LAPSED:
            if kind in MOVING_KINDS:
                spend[r[0]] = (r[2], -1)
            continue
        else:
            if kind in MOVING_KINDS:
                spend[r[0]] = (r[2], -1)
            elif kind == REVERSAL and r[5] in MOVING_KINDS:
                spend[r[0]] = (r[2], 1)
            touch.add(r[0])
        if kind == BATCH_CLOSE:
            closes.append(r[0])
    if closes:
        marks = ",".join("?" * len(closes))
        part.closes = conn.execute(
            "SELECT id, ifnull(terminal_id, ''), ifnull(store_id, ''), ifnull(batch, ''), "
            f"ifnull(response_code, ''), detail FROM journal WHERE id IN ({marks}) "
            "ORDER BY id", closes).fetchall()
    moves = conn.execute(
        "SELECT journal_id, lot_id, kind, store_id, delta FROM lot_moves "
        "WHERE journal_id BETWEEN ? AND ? ORDER BY journal_id, rowid", (lo, hi)).fetchall()
    if len(rows) != hi - lo + 1:  # IDs of other days inside the chunk: leave their moves
        ids = {r[0] for r in rows}
        moves = [m for m in moves if m[0] in ids]
    part.chunks = [(lo >> CHUNK_BITS, len(rows), items_digest(rows), len(moves),
                    items_digest(moves) if moves else "")]
    pairs: dict[tuple[str, str, str], int] = {}
    touched: dict[int, int] = {}
    activity: dict[tuple[str, str], int] = {}
    settling = 0
    for jid, lot, mkind, issuer, delta in moves:
        c = counted.get(jid)
        if c is not None and mkind == POINTS and delta:
            measure, acceptor = c
            if acceptor is None:
                activity[(measure, issuer)] = activity.get((measure, issuer), 0) + delta
            else:
                activity[(measure, acceptor)] = activity.get((measure, acceptor), 0) - delta
        s = spend.get(jid)
        if s is not None:
            acceptor, sign = s
            if delta * sign < 0:
                part.error = part.error or (
                    f"journal entry {jid}: lot {lot} moved by {delta}, the wrong way for "
                    "this kind of entry")
            if issuer != acceptor and delta:
                k = (mkind, issuer, acceptor)
                pairs[k] = pairs.get(k, 0) - delta
                settling += 1
        elif jid in declined:
            part.error = part.error or (
                f"journal entry {jid}: declined ({declined[jid]!r}) yet it changed lots")
        if jid in touch:
            touched[lot] = touched.get(lot, 0) + delta
    # Keep only the lots that have lapsed by `day` (most reversals restore live lots).
    lapsed: dict[int, int] = {}
    lot_ids = sorted(touched)
    for i in range(0, len(lot_ids), 900):
        chunk = lot_ids[i:i + 900]
        for (lid,) in conn.execute(
            f"SELECT id FROM lots WHERE id IN ({','.join('?' * len(chunk))}) AND "
            "kind = 'points' AND expires_on IS NOT NULL AND expires_on <= ?", (*chunk, day)
        ):
            lapsed[lid] = touched[lid]
    part.pairs, part.touched, part.settling = pairs, lapsed, settling
    part.activity = {k: v for k, v in activity.items() if v}
    return part


def batch_window(task: tuple[str, int, int, list[tuple[str, str]]]) -> list[tuple[Any, ...]]:
    """Rows of journal IDs [lo, hi] in the given (terminal, batch) keys, and the reversals
    those terminals sent (the caller keeps the ones of the batches' transactions)."""
    path, lo, hi, keys = task
    conn = _connect(path)
    try:
        conn.execute("CREATE TEMP TABLE k (terminal_id TEXT, batch TEXT, "
                     "PRIMARY KEY (terminal_id, batch))")
        conn.executemany("INSERT INTO k VALUES (?, ?)", keys)
        return conn.execute(
            f"SELECT {ENTRY_COLS} FROM journal j LEFT JOIN journal o ON o.id = j.original_id "
            "WHERE j.id BETWEEN ? AND ? AND ("
            "(j.kind IN ('earn', 'advice', 'redeem', 'sv_purchase') AND "
            " EXISTS (SELECT 1 FROM k WHERE k.terminal_id = j.terminal_id AND k.batch = j.batch))"
            " OR (j.kind = 'reversal' AND j.terminal_id IN (SELECT terminal_id FROM k))"
            ") ORDER BY j.id", (lo, hi)).fetchall()
    finally:
        conn.close()


def settle_journal(
    journal: Journal, book: DayBook, progress: Progress = _noop,
    lookback: int = BATCH_LOOKBACK_DAYS, workers: int = 0,
    coalitions: Mapping[str, Any] | None = None,
) -> Any:
    """Feed and finish a day from the journal (the production path)."""
    scan = journal.feed(book, progress, workers)
    return book.finish(journal.lots_due(book.day, scan),
                       journal.batch_closes(book.day, lookback, scan, workers),
                       journal.downgrades(book.day, coalitions))
