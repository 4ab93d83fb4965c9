"""Reading a business day from the switch's journal (read-only, through its read API).

The day's journal IDs are cut into chunks (`digest.CHUNK_BITS`); reader processes fetch each
chunk's entries (only the columns settling reads) and lot moves, hash them, count them and sum
the inter-store flows, and the main process merges their small results. Memory stays bounded by
a chunk, the number of store pairs and the lots due, not by the day. The 0500 totals the switch
recorded are compared as they are; only a batch out of balance has its rows read. The rows come
from `switch.journal.JournalReader` (docs/switch.md, the journal package); this module never
writes and holds no SQL.

One module, past 400 lines, on purpose: the chunked scan, its worker processes and the reads
that follow it (lots due, batch closes, coupons, gift cards) share one day's bounds and one
`Scan`; split, each half would need the other's internals.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import multiprocessing as mp
import os
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from sys import intern
from typing import Any, Generic, TypeVar

from settlement import tiers
from settlement.day import DayBook, DaySettlement
from settlement.digest import CHUNK_BITS, items_digest
from settlement.fees import ISSUED, ISSUING_KINDS, REDEEMED
from settlement.netting import MOVING_KINDS
from settlement.records import (
    ADVICE,
    BATCH_CLOSE,
    EARN,
    MEMBERSHIP,
    POINTS,
    REDEEM,
    REDEEMING_KINDS,
    REVERSAL,
    SV_PURCHASE,
    TOPUP,
    BatchClose,
    InputError,
    InvariantError,
    LotExpiry,
    Row,
    SettlementError,
    Totals,
)
from settlement.rewards import CouponMove, GiftLot, MembershipSale
from settlement.tiers import Downgrade
from switch.journal import (
    JournalError,
    JournalReader,
    open_reader,
    open_scan_reader,
    postgres_conninfo,
)

#: A batch may hold transactions of up to this many business days before its close (terminals
#: close their batch daily; a longer-open batch needs a larger --batch-lookback-days).
BATCH_LOOKBACK_DAYS = 1

#: Entries that can touch a lot that has lapsed: earns make new lots and burns skip lapsed
#: ones (the switch's burn order), so only these others can (reversals, returns, ...).
NOT_TOUCHING_LAPSED = (EARN, ADVICE, REDEEM, SV_PURCHASE)
#: Approved entries that make a card a store's member (`new_members`).
MEMBER_KINDS = (EARN, ADVICE, REDEEM, SV_PURCHASE, TOPUP)

Progress = Callable[[int], None]
T = TypeVar("T")


#: The day's chunks are dealt out as this many tasks per reader process: enough to even out
#: the readers, few enough that this process merges few parts (each repeats most of the day's
#: store pairs). Two against four: 32.7-33.5 s against 34.7-35.7 s for 10M entries
#: (benches/README.md, "Settlement's parts, twelfth session").
TASKS_PER_WORKER = 2


def _noop(_: int) -> None:
    return None


class Journal:
    """A read-only view of the switch's journal, one snapshot per `with` block."""

    def __init__(self, path: str | Path) -> None:
        # a postgresql:// URL stays as it is (docs/deploy.md, "PostgreSQL")
        self.path: str | Path = path if postgres_conninfo(path) else Path(path)
        try:
            self.reader: JournalReader = open_reader(self.path)
        except JournalError as exc:
            raise InputError(str(exc)) from None
        self._snapshot = contextlib.ExitStack()

    def __enter__(self) -> Journal:
        # One read transaction: the switch may keep writing, settlement sees one snapshot.
        self._snapshot.enter_context(self.reader.snapshot())
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        self._snapshot.close()
        if isinstance(exc, JournalError):  # the journal could not be read: nothing settled
            raise SettlementError(str(exc)) from exc

    def close(self) -> None:
        self.reader.close()

    # -- facts about days ---------------------------------------------------------------------

    def day_size(self, day: dt.date) -> int:
        return self.reader.day_size(day)

    # -- the aggregated path (production) -----------------------------------------------------

    def bounds(self, day: dt.date) -> tuple[int, int] | None:
        """The first and last journal ID of a business day (from the day index)."""
        return self.reader.day_bounds(day)

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
        size = max(1, -(-len(spans) // (TASKS_PER_WORKER * workers)))
        groups = [spans[i:i + size] for i in range(0, len(spans), size)]
        if workers > 1 and len(groups) > 1:
            # A reader process opens the journal nowhere else: it may read through apsw.
            tasks = [(str(self.path), book.day.isoformat(), group, True) for group in groups]
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                for part in pool.map(scan_windows, tasks):
                    scan.merge(book, part)
                    progress(part.entries)
        else:
            for group in groups:
                part = scan_windows((str(self.path), book.day.isoformat(), group, False))
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
            yield from due_lots(scan, *lots_window(self.reader, day, scan.last_id, scan.touched))
            return
        for lid, store, expires, before, after in self.reader.lots_due(day, NOT_TOUCHING_LAPSED):
            yield LotExpiry(lid, store, expires, before, after)

    @contextlib.contextmanager
    def lots_pending(self, day: dt.date, scan: Scan, workers: int = 0
                     ) -> Iterator[Iterable[LotExpiry]]:
        """`lots_due(day, scan)`, the lots table read by a process of its own while the block
        runs: `settle_journal` nets the day meanwhile, and the lots wait for the read only when
        they are used (docs/settlement.md, "Reading the journal")."""
        workers = workers or os.cpu_count() or 1
        if workers > 1:
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            with ProcessPoolExecutor(1, mp_context=ctx) as pool:
                read = pool.submit(lots_process, (str(self.path), day.isoformat(), scan.last_id,
                                                  sorted(scan.touched)))
                yield Pending(lambda: due_lots(scan, *read.result()))
        else:
            yield Pending(lambda: self.lots_due(day, scan))

    def batch_closes(self, day: dt.date, lookback: int = BATCH_LOOKBACK_DAYS,
                     scan: Scan | None = None, workers: int = 0) -> list[BatchClose]:
        """The day's 0500s: the terminal's totals and those the switch recorded at the close.

        For a batch where the two differ the batch's rows are read (its transactions of the
        last `lookback` days and their reversals), so the reconciliation can both recompute the
        switch's side from the journal and find the transactions that explain the difference.
        """
        with self.closes_pending(day, lookback, scan, workers) as pending:
            return list(pending)

    @contextlib.contextmanager
    def closes_pending(self, day: dt.date, lookback: int = BATCH_LOOKBACK_DAYS,
                       scan: Scan | None = None, workers: int = 0
                       ) -> Iterator[Pending[BatchClose]]:
        """`batch_closes`, the differing batches' rows read by worker processes while the block
        runs: `settle_journal` nets the day meanwhile, and the closes wait for the reads only
        when they are used (docs/settlement.md, "Reading the journal")."""
        closes = self._closes(scan.closes if scan is not None else self.reader.day_closes(day))
        wanted = [c for c in closes if c.switch != c.terminal]
        if not wanted:
            yield Pending(lambda: closes)
            return
        first = self.reader.first_id_from(day - dt.timedelta(days=lookback))
        assert first is not None  # the day has these closes
        last = max(c.id for c in wanted)
        keys = sorted({(c.terminal_id, c.batch) for c in wanted})
        spans = windows(first, last)
        workers = workers or min(os.cpu_count() or 1, len(spans))
        if workers > 1 and len(spans) > 1:
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                parts = [pool.submit(batch_window, (str(self.path), lo, hi, keys, True))
                         for lo, hi in spans]
                yield Pending(lambda: explained(
                    closes, [r for part in parts for r in part.result()]))
        else:
            tasks = [(str(self.path), lo, hi, keys, False) for lo, hi in spans]
            yield Pending(lambda: explained(closes, [r for t in tasks for r in batch_window(t)]))

    @staticmethod
    def _closes(raw: list[tuple[Any, ...]]) -> list[BatchClose]:
        """The 0500s' rows as closes; a refused one (no terminal totals) is left out."""
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
        return closes

    def coupon_moves(self, day: dt.date) -> Iterator[CouponMove]:
        """The day's coupon redemptions and releases, in journal order."""
        span = self.bounds(day)
        if span is None:
            return
        for lo, hi in windows(*span):
            for jid, issue, coalition, issuer, store, discount in self.reader.coupon_moves(lo,
                                                                                           hi):
                yield CouponMove(jid, issue, coalition, issuer, store, discount)

    def membership_sales(self, day: dt.date, scan: Scan | None = None
                         ) -> Iterator[MembershipSale]:
        """The day's club cards sold and sales reversed, in journal order (with a `scan` of
        the day, those its readers found)."""
        span = self.bounds(day)
        if span is None:
            return
        found = scan.sales if scan is not None else (
            sale for lo, hi in windows(*span) for sale in self.reader.membership_sales(lo, hi))
        for jid, coalition, store, price in found:
                yield MembershipSale(jid, coalition, store, price)

    def gift_lots(self, day: dt.date) -> Iterator[GiftLot]:
        """Gift-card lots unusable on `day` (lapsing that day, or lapsed and touched that day
        by a reversal or a return), as `lots_due` reads points lots."""
        for lid, store, coalition, expires, before, after in self.reader.gift_lots_due(
                day, NOT_TOUCHING_LAPSED):
            yield GiftLot(LotExpiry(lid, store, expires, before, after), coalition)

    def downgrades(self, day: dt.date,
                   coalitions: Mapping[str, Any] | None) -> list[Downgrade]:
        """The night's tier downgrades (none without the coalitions' tiers)."""
        return list(tiers.downgrades(self.reader, coalitions, day)) if coalitions else []

    # -- reports ------------------------------------------------------------------------------

    def lots_at(self, day: dt.date) -> dict[str, tuple[int, int]]:
        """Per issuing store at the end of `day`: (positive remaining of lapsed points lots,
        remaining of live ones), each lot's remaining being now's less what later days moved."""
        return self.reader.lots_at(day)

    def new_members(self, start: dt.date, end: dt.date) -> tuple[dict[str, int], dict[str, int]]:
        """Cards whose first approved transaction at a store is in the range, per store; and
        cards enrolled in the range, per coalition."""
        return self.reader.new_members(start, end, MEMBER_KINDS)

    # -- the per-entry path (tests, verification, reports) ------------------------------------

    def rows(self, day: dt.date) -> Iterator[Row]:
        """The day's entries with their draws, in journal order."""
        return self.reader.rows(day)

    def rows_between(self, start: dt.date, end: dt.date, draws: bool = True) -> Iterator[Row]:
        return self.reader.rows(start, end, draws=draws)


class Pending(Generic[T]):
    """Items still being read elsewhere: iterating waits for them (`make` runs once, then the
    items are those it gave)."""

    def __init__(self, make: Callable[[], Iterable[T]]) -> None:
        self._make = make
        self._items: list[T] | None = None

    def __iter__(self) -> Iterator[T]:
        if self._items is None:
            self._items = list(self._make())
        return iter(self._items)


def explained(closes: list[BatchClose], found: list[Row]) -> list[BatchClose]:
    """Each close whose totals differ, with the rows `found` of its batch (those before the
    close) and their reversals; the others as they are."""
    by_batch: dict[tuple[str, str], list[Row]] = {}
    reversals: dict[int, list[Row]] = {}
    for r in found:
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


def windows(lo: int, hi: int) -> list[tuple[int, int]]:
    """[lo, hi] cut at the digest's chunk boundaries (one task per chunk)."""
    first, last = lo >> CHUNK_BITS, hi >> CHUNK_BITS
    return [(max(lo, c << CHUNK_BITS), min(hi, ((c + 1) << CHUNK_BITS) - 1))
            for c in range(first, last + 1)]


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
    #: Club cards sold and sales reversed (`JournalReader.membership_sales`), read only in
    #: the chunks whose entries hold one (the read scans every row of a chunk in SQL).
    sales: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass(slots=True)
class Scan:
    """The merged parts: what `lots_due` and `batch_closes` need besides the book."""

    touched: dict[int, int] = field(default_factory=dict)
    closes: list[tuple[Any, ...]] = field(default_factory=list)
    error: str = ""
    last_id: int = 0
    sales: list[tuple[Any, ...]] = field(default_factory=list)

    def merge(self, book: DayBook, part: Part) -> None:
        for chunk, entries, edigest, draws, ddigest in part.chunks:
            book.add_chunk("entries", chunk, entries, edigest)
            book.add_chunk("draws", chunk, draws, ddigest)
        for (kind, rc), n in part.counts.items():
            book.add_count(kind, rc, n)
        book.add_flows(part.pairs)
        book.add_settling(part.settling)
        for (measure, store), points in part.activity.items():
            book.add_activity(measure, store, points)
        touched = self.touched
        for lot, delta in part.touched.items():
            touched[lot] = touched.get(lot, 0) + delta
        self.closes += part.closes
        self.error = self.error or part.error
        self.sales += part.sales


def scan_windows(task: tuple[str, str, list[tuple[int, int]], bool]) -> Part:
    """Read several chunks, summing what they contribute (fewer, larger results to merge).

    The task's last item says whether this runs in a reader process of its own, which reads
    the journal with `open_scan_reader` (never where this process holds it open otherwise).
    """
    path, day, spans, own_process = task
    total = Part()
    reader = open_scan_reader(path) if own_process else open_reader(path)
    try:
        for lo, hi in spans:
            scan_window(reader, dt.date.fromisoformat(day), lo, hi, total)
    finally:
        reader.close()
    total.activity = {k: v for k, v in total.activity.items() if v}
    return total


#: What an entry's lot moves mean to the scan, by (kind, response code, original's kind):
#: the fee measure its points count for and whether at the accepting store (else at the
#: lot's issuer), the sign its value-moving draws must have (0: it moves no value), declined,
#: and whether it can touch a lapsed lot.
Role = tuple[str | None, bool, int, bool, bool]


def role_of(kind: str, rc: str, original_kind: str) -> Role:
    """How `scan_window` reads the moves of one kind of entry (docs/settlement.md, "What a
    day's settlement computes"); the same rules as the per-entry path's `flows_of` and
    `fees.activity_of`, for the entries the reader returns."""
    if rc != "00":
        return None, False, 0, True, False
    effective = original_kind if kind == REVERSAL else kind
    measure, at_acceptor = None, False
    if effective in ISSUING_KINDS:
        measure = ISSUED
    elif effective in REDEEMING_KINDS:
        measure, at_acceptor = REDEEMED, True
    if kind in MOVING_KINDS:
        sign = -1
    elif kind == REVERSAL and original_kind in MOVING_KINDS:
        sign = 1
    else:
        sign = 0
    return measure, at_acceptor, sign, False, kind not in NOT_TOUCHING_LAPSED


def scan_window(reader: JournalReader, day: dt.date, lo: int, hi: int, part: Part) -> None:
    """Read journal IDs [lo, hi] of `day` into `part`: digest, counts, flows, moves of lapsed
    lots, added to what `part` holds (one set of sums per task, not one per chunk).

    Only the moves are walked in Python, each finding its entry by position (a chunk of one
    day is dense) and the entry's meaning in a table of the few (kind, response code,
    original's kind) a day has: no object per entry beyond the row the digest hashes.
    """
    rows = reader.digest_rows(day, lo, hi)
    if not rows:
        part.sales += reader.membership_sales(lo, hi)
        return
    part.entries += len(rows)
    # Columns: 0 id, 1 kind, 2 store, 3 response code, 4 original ID, 5 original's kind
    counts = part.counts
    for key, n in Counter(map(itemgetter(1, 3), rows)).items():
        counts[key] = counts.get(key, 0) + n
    closes = [r[0] for r in rows if r[1] == BATCH_CLOSE]
    if closes:
        part.closes += reader.closes(closes)
    # The read by ID range sees other days' IDs inside the chunk too: read where any may be.
    if len(rows) != hi - lo + 1 or MEMBERSHIP in set(map(itemgetter(1), rows)) or \
            MEMBERSHIP in set(map(itemgetter(5), rows)):
        part.sales += reader.membership_sales(lo, hi)
    moves = reader.moves(lo, hi)
    by_id: list[tuple[Any, ...]] | dict[int, tuple[Any, ...]]
    if len(rows) == hi - lo + 1:  # every ID is the day's: the entry of ID i is rows[i - lo]
        by_id, offset = rows, lo
    else:  # IDs of other days inside the chunk: leave their moves
        by_id, offset = dict(zip(map(itemgetter(0), rows), rows, strict=True)), 0
        moves = [m for m in moves if m[0] in by_id]
    part.chunks.append((lo >> CHUNK_BITS, len(rows), items_digest(rows), len(moves),
                        items_digest(moves) if moves else ""))
    roles: dict[tuple[str, str, str], Role] = {}  # a day has a few dozen
    pairs, activity = part.pairs, part.activity
    touched: dict[int, int] = {}
    settling = 0
    error = part.error
    for jid, lot, mkind, issuer, delta in moves:
        r = by_id[jid - offset]
        key = (r[1], r[3], r[5])
        role = roles.get(key)
        if role is None:
            role = roles[key] = role_of(*key)
        measure, at_acceptor, sign, declined, touch = role
        if measure is not None and delta and mkind == POINTS:
            if at_acceptor:
                k = (measure, r[2])
                activity[k] = activity.get(k, 0) - delta
            else:
                k = (measure, issuer)
                activity[k] = activity.get(k, 0) + delta
        if sign:
            if delta * sign < 0 and not error:
                error = (f"journal entry {jid}: lot {lot} moved by {delta}, the wrong way for "
                         "this kind of entry")
            if delta and issuer != r[2]:
                pair = (mkind, issuer, r[2])
                units = pairs.get(pair)
                if units is None:  # a new pair: its names shared, so the part pickles each once
                    pairs[intern(mkind), intern(issuer), intern(r[2])] = -delta
                else:
                    pairs[pair] = units - delta
                settling += 1
        elif declined and not error:
            error = f"journal entry {jid}: declined ({r[3]!r}) yet it changed lots"
        if touch:
            touched[lot] = touched.get(lot, 0) + delta
    # Keep only the lots that have lapsed by `day` (most reversals restore live lots).
    kept = part.touched
    for lid in reader.lapsed(touched, day):
        kept[lid] = kept.get(lid, 0) + touched[lid]
    part.settling += settling
    part.error = error


def lots_window(reader: JournalReader, day: dt.date, last_id: int, touched: Collection[int]
                ) -> tuple[dict[int, int], dict[int, tuple[str, dt.date, int]]]:
    """What `lots_due` reads after a scan of the day (its last ID, the lots it touched): per
    lot, what later days moved; the lots expiring on `day` and those touched that had expired
    before it."""
    return (reader.moved_after(last_id, day, NOT_TOUCHING_LAPSED),
            reader.expiring_lots(day, touched))


def lots_process(task: tuple[str, str, int, list[int]]
                 ) -> tuple[dict[int, int], dict[int, tuple[str, dt.date, int]]]:
    """`lots_window` in a reader process of its own (`Journal.lots_pending`)."""
    path, day, last_id, touched = task
    reader = open_scan_reader(path)
    try:
        return lots_window(reader, dt.date.fromisoformat(day), last_id, touched)
    finally:
        reader.close()


def due_lots(scan: Scan, later: Mapping[int, int],
             found: Mapping[int, tuple[str, dt.date, int]]) -> Iterator[LotExpiry]:
    """The lots due, from what `lots_window` read: each lot's remaining at the end of the
    day (now's less what later days moved) and before it (less what the day moved too)."""
    for lid in sorted(found):
        store, expires, remaining = found[lid]
        after = remaining - later.get(lid, 0)
        yield LotExpiry(lid, store, expires, after - scan.touched.get(lid, 0), after)


def batch_window(task: tuple[str, int, int, list[tuple[str, str]], bool]) -> list[Row]:
    """Rows of journal IDs [lo, hi] in the given (terminal, batch) keys, and the reversals
    those terminals sent (the caller keeps the ones of the batches' transactions). The last
    item: whether this runs in a reader process of its own (`scan_windows`)."""
    path, lo, hi, keys, own_process = task
    reader = open_scan_reader(path) if own_process else open_reader(path)
    try:
        return reader.batch_rows(lo, hi, keys)
    finally:
        reader.close()


def settle_journal(
    journal: Journal, book: DayBook, progress: Progress = _noop,
    lookback: int = BATCH_LOOKBACK_DAYS, workers: int = 0,
    coalitions: Mapping[str, Any] | None = None,
) -> DaySettlement:
    """Feed and finish a day from the journal (the production path)."""
    with without_cyclic_gc():
        scan = journal.feed(book, progress, workers)
        book.add_coupons(journal.coupon_moves(book.day))
        book.add_memberships(journal.membership_sales(book.day, scan))
        policy = gift_policy(coalitions)
        # The lots due and the differing batches' rows are read while the day is netted
        # (`finish` takes the lots and the closes last).
        with journal.closes_pending(book.day, lookback, scan, workers) as closes, \
                journal.lots_pending(book.day, scan, workers) as lots:
            return book.finish(lots, closes,
                               journal.downgrades(book.day, coalitions),
                               journal.gift_lots(book.day) if policy else (), policy)


@contextlib.contextmanager
def without_cyclic_gc() -> Iterator[None]:
    """The cyclic garbage collector paused for the block (and in the reader processes it
    forks). A day's settlement keeps hundreds of thousands of pairs, obligations and lots
    alive and makes few cycles, so each of the collector's full passes would walk all of them
    again and free next to nothing (docs/settlement.md, "Tests and benchmark"). Memory freed by
    reference counting is freed as before."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def gift_policy(coalitions: Mapping[str, Any] | None) -> dict[str, str]:
    """Coalition -> who keeps lapsed gift-card value, for those with gift cards."""
    return {cid: c.gift_cards.breakage for cid, c in (coalitions or {}).items()
            if getattr(c, "gift_cards", None) is not None}
