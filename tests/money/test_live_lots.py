"""A card's live lots are read through the partial index of live lots, however many it spent.

A customer who earns every day and spends it leaves a lot a day behind, spent. SQLite planned
`pan = ? AND remaining != 0` on `lots_pan` as readily as on `lots_live` while that index was
there, and `lots_pan` walks every lot the card ever had: the reads that run while the switch
serves (a card's lots after a lazy recovery, on the event loop; the cards the verified
checkpoint's tail touched, ten times a second) name the index (`common.live_lots`). Migration
17 drops `lots_pan` (each earn wrote a leaf of it), and the nightly job's read of the lapsing
points, which took it, now takes `lots_live` (docs/switch.md, "The journal").
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from switch.journal.schema import MIGRATIONS
from switch.journal.sql import verify
from switch.journal.sql.club import SqlClub
from switch.journal.sql.common import card_lots, live_lots
from switch.journal.sql.db import POSTGRES, SQLITE
from switch.journal.sqlite.journal import SqliteJournal
from tests.money.support import journal_before

PAN = "6280000000000013"
OTHER = "6280000000000021"
SPENT = 2_000


def _spender(tmp_path: Path) -> sqlite3.Connection:
    """A journal whose card PAN has spent SPENT lots and holds two live ones (a point lot and
    a purse lot); another card's lot lies between them."""
    path = tmp_path / "j.db"
    SqliteJournal(path).close()
    conn = sqlite3.connect(path)
    conn.executemany("INSERT INTO cards VALUES (?,?,?,?)", [
        (PAN, "tehran-mall", "active", "2023-01-02"),
        (OTHER, "tehran-mall", "active", "2023-01-02")])
    lots = [(n, PAN, "points", "S1", "tehran-mall", "2024-01-01", None, 10, 0, n)
            for n in range(1, SPENT + 1)]
    lots += [(SPENT + 1, PAN, "points", "S1", "tehran-mall", "2026-11-01", None, 10, 7,
              SPENT + 1),
             (SPENT + 2, OTHER, "points", "S1", "tehran-mall", "2026-11-01", None, 5, 5,
              SPENT + 2),
             (SPENT + 3, PAN, "sv", "S2", "tehran-mall", "2026-11-02", None, 30, 30,
              SPENT + 3)]
    conn.executemany("INSERT INTO lots VALUES (?,?,?,?,?,?,?,?,?,?)", lots)
    conn.commit()
    return conn


def _plan(conn: sqlite3.Connection, sql: str, args: dict[str, int] | None = None) -> str:
    return " ".join(str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql,
                                                         args or {}))


def test_a_cards_live_lots_are_read_through_the_live_index(tmp_path: Path) -> None:
    conn = _spender(tmp_path)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        lots, purse = card_lots(conn, PAN)
        conn.set_trace_callback(None)
        assert [(x.id, x.remaining) for x in lots] == [(SPENT + 1, 7)]
        assert [(x.id, x.remaining) for x in purse] == [(SPENT + 3, 30)]
        (read,) = [s for s in statements if "FROM lots" in s]
        assert "USING INDEX lots_live (pan=?)" in _plan(conn, read)
    finally:
        conn.close()


def _tail_cards(conn: sqlite3.Connection) -> str:
    """The statement `verify` ran for the cards the tail touched."""
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        found = verify.verify(conn, everything=False)
    finally:
        conn.set_trace_callback(None)
    assert found.problems == [], found.problems
    (tail,) = [s for s in statements if "touched(pan)" in s]
    return tail


def test_the_tails_cards_are_read_through_the_live_index(tmp_path: Path) -> None:
    conn = _spender(tmp_path)
    try:
        conn.execute(
            "INSERT INTO journal (id, at, business_day, kind, mti, pc, terminal_id, store_id, "
            "coalition_id, pan, stan, transmission, amount, points, sv, response_code) VALUES "
            "(1, '2026-12-05T10:00:00+00:00', '2026-12-05', 'earn', '0200', '000000', "
            "'T0000001', 'S1', 'tehran-mall', ?, '000001', '1205100000', 1000, ?, 30, '00')",
            (PAN, 7))  # what its live lots hold: the tail is sound
        conn.commit()
        ran = _tail_cards(conn)
        assert "FROM lots INDEXED BY lots_live WHERE remaining != 0" in ran
        plan = _plan(conn, ran)
        assert "SEARCH lots USING INDEX lots_live (pan=?)" in plan, plan
        assert "lots_pan" not in plan, plan
        # PostgreSQL takes no hint: its SQL is the same but for the index's name.
        sqlite, postgres = (verify._TAIL_CARDS.format(lots=live_lots(d)) for d in (SQLITE,
                                                                                  POSTGRES))
        assert postgres == sqlite.replace("lots INDEXED BY lots_live", "lots") != sqlite
    finally:
        conn.close()


def _indexes(conn: sqlite3.Connection) -> set[str]:
    return {str(r[0]) for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'lots'")}


def test_a_journal_from_before_loses_the_index_of_every_lot(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.db"
    journal_before(path, 17, monkeypatch)
    old = sqlite3.connect(path)
    assert {"lots_pan", "lots_live"} <= _indexes(old)
    old.close()
    store = SqliteJournal(path)
    try:
        assert store.version == MIGRATIONS[-1].number >= 17
        assert _indexes(store.conn) == {"lots_live"}
    finally:
        store.close()


def test_the_nightly_reads_the_lapsing_points_through_the_live_index(tmp_path: Path) -> None:
    conn = _spender(tmp_path)
    try:
        conn.execute("INSERT INTO accounts (id, coalition_id, name, source, created_at, "
                     "updated_at) VALUES (1, 'tehran-mall', 'سارا', 'desk', ?, ?)",
                     ("2023-01-02T00:00:00+00:00",) * 2)
        conn.execute("INSERT INTO account_cards (pan, account_id, linked_at) "
                     "VALUES (?, 1, '2023-01-02T00:00:00+00:00')", (PAN,))
        conn.execute("UPDATE lots SET expires_on = '2026-12-20' WHERE id = ?", (SPENT + 1,))
        conn.commit()
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        rows = list(SqlClub(conn).rows("tehran-mall", dt.date(2026, 12, 5),
                                       dt.date(2026, 9, 5), dt.date(2026, 12, 31)))
        conn.set_trace_callback(None)
        assert [(r.id, r.expiring, r.expires_on) for r in rows] == [
            (1, 7, dt.date(2026, 12, 20))]
        (read,) = [s for s in statements if "FROM accounts a" in s]
        plan = _plan(conn, read)
        assert "SEARCH o USING INDEX lots_live (pan=? AND kind=?)" in plan, plan
        assert "SCAN o" not in plan, plan
    finally:
        conn.close()
