"""A reversal's or a return's original is found through `journal_original`, which holds only the
rows that have an original (migration 18, docs/switch.md "The journal").

Most rows have none (earns, burns, inquiries). Held in the index, their NULLs put every group
commit's rows in the middle of it, one more leaf written each commit. Every read of the index
asks for `original_id = ?` (or `IN`), which implies the key is not NULL, so SQLite takes the
partial index for each of them.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from switch.core.facts import NO_CHECKS, Needs
from switch.core.model import REVERSED
from switch.journal.schema import MIGRATIONS
from switch.journal.sql.fetch import fetch
from switch.journal.sql.recall import remembered
from switch.journal.sqlite.journal import SqliteJournal
from tests.money.support import journal_before

PAN = "6280000000000013"
_ROW = ("INSERT INTO journal (id, at, business_day, kind, mti, pc, terminal_id, store_id, "
        "coalition_id, pan, stan, transmission, amount, points, sv, response_code, "
        "original_id, digest, detail) VALUES (?, '2026-12-05T10:00:00+00:00', '2026-12-05', ?, "
        "'0200', '000000', 'T0000001', 'S1', 'tehran-mall', ?, ?, '1205100000', 1000, 10, 0, "
        "'00', ?, '00', ?)")


def _journal(path: Path) -> sqlite3.Connection:
    """An earn (1), a return of it (2), a reversal of the return (3), another earn (4)."""
    conn = sqlite3.connect(path)
    conn.executemany(_ROW, [
        (1, "earn", PAN, "000001", None, None),
        (2, "return", PAN, "000002", 1, None),
        (3, "reversal", PAN, "000003", 2, '{"undone": true}'),
        (4, "earn", PAN, "000004", None, None)])
    conn.commit()
    return conn


def _index(conn: sqlite3.Connection) -> str:
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'journal_original'").fetchone()
    return str(row[0])


def _plans(conn: sqlite3.Connection, statements: list[str]) -> list[str]:
    """The plans of the statements that read rows by their original."""
    return [" ".join(str(r[-1]) for r in conn.execute("EXPLAIN QUERY PLAN " + s))
            for s in statements if "original_id =" in s or "original_id IN" in s]


def test_a_journal_from_before_keeps_only_the_rows_with_an_original_in_the_index(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.db"
    journal_before(path, 18, monkeypatch)
    _journal(path).close()
    store = SqliteJournal(path)
    try:
        assert store.version == MIGRATIONS[-1].number >= 18
        assert _index(store.conn).endswith("WHERE original_id IS NOT NULL")
        # The rows written before the migration are in the index it built.
        found = store.conn.execute("SELECT id FROM journal INDEXED BY journal_original "
                                   "WHERE original_id IN (1, 2) ORDER BY id").fetchall()
        assert found == [(2,), (3,)]
    finally:
        store.close()


def test_a_returns_and_a_reversals_original_are_read_through_the_partial_index(
        tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    SqliteJournal(path).close()
    conn = _journal(path)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        returned = fetch(conn, Needs(earn=1), NO_CHECKS).earn_returned
        found = remembered(conn, "T0000001|000002|1205100000", dt.date(2026, 12, 5),
                           with_reversal=True)
    finally:
        conn.set_trace_callback(None)
    try:
        assert [r.journal_id for r in returned.returns] == [2]
        assert returned.undone == frozenset({2})
        assert found is not None and found[0].journal_id == 2 and found[0].flags & REVERSED
        plans = _plans(conn, statements)
        assert len(plans) == 3, statements
        for plan in plans:
            assert "USING INDEX journal_original (original_id=?)" in plan, plan
    finally:
        conn.close()
