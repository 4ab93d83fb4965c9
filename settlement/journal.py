"""Reading a business day from the switch's SQLite journal (read-only, one snapshot).

The heavy sums run inside SQLite (flows per store pair, counts per kind, batch totals), so a
day of millions of entries streams through Python only as the digest's text lines, in chunks:
memory stays bounded by the chunk size and the number of stores and lots due, not the day.
Tables and columns are the switch's (`switch/store.py`, docs/switch.md); this module only reads.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from settlement.day import DayBook
from settlement.records import (
    ADVICE,
    EARN,
    POINTS,
    REDEEM,
    REVERSAL,
    SV_PURCHASE,
    BatchClose,
    Draw,
    InputError,
    LotExpiry,
    Row,
    SettlementError,
    Totals,
)

CHUNK = 50_000
#: A batch may hold transactions of up to this many business days before its close.
BATCH_LOOKBACK_DAYS = 7

#: The digest's entry line (`digest.entry_line`) built by SQLite, so it never crosses into
#: Python as separate values.
ENTRY_LINE = (
    "id||'|'||business_day||'|'||kind||'|'||ifnull(mti,'')||'|'||ifnull(pc,'')||'|'||"
    "ifnull(terminal_id,'')||'|'||ifnull(store_id,'')||'|'||ifnull(pan,'')||'|'||amount||'|'||"
    "points||'|'||sv||'|'||ifnull(response_code,'')||'|'||ifnull(batch,'')||'|'||"
    "ifnull(rrn,'')||'|'||ifnull(original_id,'')"
)
DRAW_LINE = "m.journal_id||'|'||m.lot_id||'|'||m.kind||'|'||m.store_id||'|'||m.delta"
ROW_COLS = (
    "j.id, j.business_day, j.kind, j.mti, j.pc, j.terminal_id, j.store_id, j.pan, j.amount, "
    "j.points, j.sv, j.response_code, j.batch, j.rrn, j.original_id, o.kind"
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

    def last_day(self) -> dt.date | None:
        v = self.q("SELECT MAX(business_day) FROM journal").fetchone()[0]
        return dt.date.fromisoformat(v) if v else None

    # -- the aggregated path (production) -----------------------------------------------------

    def feed(self, book: DayBook, progress: Progress = _noop) -> None:
        """Hash, count and net the day into `book`, inside SQLite wherever it can."""
        d = book.day.isoformat()
        cur = self.q(f"SELECT {ENTRY_LINE} FROM journal WHERE business_day = ? ORDER BY id",
                     (d,))
        while rows := cur.fetchmany(CHUNK):
            book.add_entry_lines([r[0] for r in rows])
            progress(len(rows))
        cur = self.q(
            f"SELECT {DRAW_LINE} FROM journal j JOIN lot_moves m ON m.journal_id = j.id "
            "WHERE j.business_day = ? ORDER BY m.journal_id, m.rowid", (d,))
        while rows := cur.fetchmany(CHUNK):
            book.add_draw_lines([r[0] for r in rows])
        for kind, rc, n in self.q(
            "SELECT kind, ifnull(response_code, ''), COUNT(*) FROM journal "
            "WHERE business_day = ? GROUP BY 1, 2", (d,)
        ):
            book.add_count(kind, rc, n)
        bad = self.q(
            "SELECT j.id, j.response_code FROM journal j JOIN lot_moves m ON m.journal_id = j.id "
            "WHERE j.business_day = ? AND ifnull(j.response_code, '') != '00' LIMIT 1", (d,)
        ).fetchone()
        if bad:
            raise InputError(f"journal entry {bad[0]}: declined ({bad[1]!r}) yet it changed lots")
        spending = "('redeem', 'sv_purchase')"
        where = (
            "FROM journal j JOIN lot_moves m ON m.journal_id = j.id "
            "LEFT JOIN journal o ON o.id = j.original_id "
            "WHERE j.business_day = ? AND j.response_code = '00' AND "
            f"(j.kind IN {spending} OR (j.kind = 'reversal' AND o.kind IN {spending}))"
        )
        for kind, issuer, acceptor, is_burn, total, lo, hi in self.q(
            "SELECT m.kind, m.store_id, j.store_id, j.kind != 'reversal', SUM(m.delta), "
            f"MIN(m.delta), MAX(m.delta) {where} GROUP BY 1, 2, 3, 4", (d,)
        ):
            if (is_burn and hi > 0) or (not is_burn and lo < 0):
                raise InputError(
                    f"a {'redemption' if is_burn else 'reversal'} at {acceptor} moved a lot of "
                    f"{issuer} the wrong way (deltas {lo}..{hi})")
            book.add_flow(kind, issuer, acceptor, -total)
        book.add_settling(self.q(
            f"SELECT COUNT(DISTINCT j.id) {where} AND m.store_id != j.store_id", (d,)
        ).fetchone()[0])

    def lots_due(self, day: dt.date) -> Iterator[LotExpiry]:
        """Points lots unusable on `day`: those lapsing today, and lapsed ones touched today.

        Their remaining at the end of `day` is the lot's remaining now minus what later days
        moved; before it, minus what `day` moved too.
        """
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

    def batch_closes(self, day: dt.date, lookback: int = BATCH_LOOKBACK_DAYS) -> list[BatchClose]:
        """The day's 0500s with the switch's totals summed in SQLite; rows only where they
        differ from the terminal's (to explain the difference)."""
        d, start = day.isoformat(), (day - dt.timedelta(days=lookback)).isoformat()
        closes = []
        for cid, tid, store, batch, rc, detail in self.q(
            "SELECT id, terminal_id, store_id, batch, response_code, detail FROM journal "
            "WHERE business_day = ? AND kind = 'batch_close' ORDER BY id", (d,)
        ):
            try:
                terminal = json.loads(detail)["terminal"] if detail else None
            except (ValueError, KeyError, TypeError):
                raise InputError(f"journal entry {cid}: unreadable batch totals") from None
            if terminal is None:  # a refused 0500 (wrong processing code): nothing to compare
                continue
            closes.append(BatchClose(
                cid, tid or "", store or "", batch or "", rc or "",
                Totals.from_fields({int(k): int(v) for k, v in terminal.items()})))
        if not closes:
            return []
        self.q("CREATE TEMP TABLE IF NOT EXISTS settle_closes "
               "(close_id INTEGER PRIMARY KEY, terminal_id TEXT, batch TEXT)")
        self.q("DELETE FROM settle_closes")
        self.conn.executemany("INSERT INTO settle_closes VALUES (?, ?, ?)",
                              [(c.id, c.terminal_id, c.batch) for c in closes])
        self.q("CREATE INDEX IF NOT EXISTS temp.settle_closes_key "
               "ON settle_closes (terminal_id, batch)")
        sums = {}
        for cid, *vals in self.q(f"""
            WITH t AS (
              SELECT c.close_id, j.id, j.amount, j.pc = '000000' AS credit
              FROM journal j JOIN settle_closes c
                ON c.terminal_id = j.terminal_id AND c.batch = j.batch AND j.id < c.close_id
              WHERE j.business_day BETWEEN :s AND :d AND j.response_code = '00' AND (
                (j.kind IN ('earn', 'advice') AND j.pc = '000000') OR
                (j.kind IN ('redeem', 'sv_purchase') AND j.pc IN ('900000', '006000')))),
            rv AS (
              SELECT original_id, MIN(id) first FROM journal
              WHERE business_day BETWEEN :s AND :d AND kind = '{REVERSAL}'
                AND response_code = '00' AND original_id IS NOT NULL GROUP BY original_id)
            SELECT t.close_id,
              SUM(credit), SUM(credit AND rv.first < t.close_id),
              SUM(NOT credit), SUM(NOT credit AND rv.first < t.close_id),
              SUM(CASE WHEN credit THEN amount ELSE 0 END),
              SUM(CASE WHEN credit AND rv.first < t.close_id THEN amount ELSE 0 END),
              SUM(CASE WHEN NOT credit THEN amount ELSE 0 END),
              SUM(CASE WHEN NOT credit AND rv.first < t.close_id THEN amount ELSE 0 END)
            FROM t LEFT JOIN rv ON rv.original_id = t.id GROUP BY t.close_id""",
            {"s": start, "d": d},
        ):
            sums[cid] = Totals(*(int(v or 0) for v in vals))
        out = []
        for c in closes:
            mine = sums.get(c.id, Totals())
            rows: tuple[Row, ...] = ()
            if mine != c.terminal:
                rows = tuple(self.batch_rows(c, start))
            out.append(BatchClose(c.id, c.terminal_id, c.store_id, c.batch, c.response_code,
                                  c.terminal, mine, rows))
        return out

    def batch_rows(self, close: BatchClose, start: str) -> Iterator[Row]:
        """A batch's transactions and their reversals, journaled before its close."""
        ids: list[int] = []
        for r in self._rows(
            "j.business_day BETWEEN ? AND ? AND j.terminal_id = ? AND j.batch = ? AND j.id < ? "
            "AND j.kind IN ('earn', 'advice', 'redeem', 'sv_purchase')",
            (start, close_day(self, close), close.terminal_id, close.batch, close.id),
            draws=False,
        ):
            ids.append(r.id)
            yield r
        wanted = set(ids)
        for r in self._rows(
            "j.business_day BETWEEN ? AND ? AND j.kind = 'reversal' AND j.id < ? "
            "AND j.terminal_id = ?",
            (start, close_day(self, close), close.id, close.terminal_id), draws=False,
        ):
            if r.original_id in wanted:
                yield r

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
            f"SELECT {ROW_COLS} FROM journal j LEFT JOIN journal o ON o.id = j.original_id "
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
            for (jid, day, kind, mti, pc, tid, store, pan, amount, points, sv, rc, batch, rrn,
                 oid, okind) in chunk:
                yield Row(
                    jid, dt.date.fromisoformat(day), kind, mti or "", pc or "", tid or "",
                    store or "", pan or "", amount, points, sv, rc or "", batch or "", rrn or "",
                    oid, okind or "", tuple(by_entry.get(jid, ())),
                )


def close_day(journal: Journal, close: BatchClose) -> str:
    return str(journal.q("SELECT business_day FROM journal WHERE id = ?",
                         (close.id,)).fetchone()[0])


def settle_journal(
    journal: Journal, book: DayBook, progress: Progress = _noop,
    lookback: int = BATCH_LOOKBACK_DAYS,
) -> Any:
    """Feed and finish a day from the journal (the production path)."""
    journal.feed(book, progress)
    return book.finish(journal.lots_due(book.day), journal.batch_closes(book.day, lookback))
