"""A decision's reads (`switch.journal.sql.fetch`) on a real PostgreSQL server: the same facts as
SQLite gives from the same rows, and the rows of a reversal's original, of a return's earn or
of a batch read in one round trip (docs/switch.md, "The request path", step 3)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from switch.core.facts import NO_CHECKS, Needs
from switch.journal.postgres.connect import PgDb, open_db
from switch.journal.postgres.journal import PgJournal
from switch.journal.sql.db import Db
from switch.journal.sql.fetch import fetch
from switch.journal.sqlite.journal import SqliteJournal

PAN = "6280000000000013"
_JOURNAL = (
    "INSERT INTO journal (id, at, business_day, kind, mti, pc, terminal_id, store_id, "
    "coalition_id, pan, stan, transmission, rrn, amount, points, sv, response_code, batch, "
    "original_id, digest, detail, response) VALUES (?, '2026-12-05T10:00:00+00:00', "
    "'2026-12-05', ?, '0200', '000000', 'T0000001', 'S1', 'tehran-mall', ?, ?, '1205100000', "
    "?, ?, ?, 0, '00', '000001', ?, '00', ?, ?)")
#: An earn (1) of two lots, a return of it (2), a reversal of the return (3), a reversal of
#: the earn refused (4), another earn (5) with no lot, an earn (6) its reversal (7) undid;
#: batch 000001's totals.
_ROWS: dict[str, tuple[str, list[tuple[Any, ...]]]] = {
    "journal": (_JOURNAL, [
        (1, "earn", PAN, "000001", "000000000001", 1000, 10, None, None,
         '{"mti":"0210","tpdu":null,"fields":{"39":"00","48":"\u067e\u200c"}}'),
        (2, "return", PAN, "000002", "000000000002", 400, -4, 1, None, None),
        (3, "reversal", PAN, "000003", "000000000003", 400, 4, 2, '{"undone": true}', None),
        (4, "reversal", PAN, "000004", "000000000004", 1000, 0, 1, '{"undone": false}', None),
        (5, "earn", PAN, "000005", "000000000005", 50, 0, None, None, None),
        (6, "earn", PAN, "000006", "000000000006", 70, 0, None, None, None),
        (7, "reversal", PAN, "000007", "000000000007", 70, 0, 6, '{"undone": true}', None)]),
    "lots": ("INSERT INTO lots (id, pan, kind, store_id, coalition_id, earned_on, expires_on, "
             "initial, remaining, journal_id) VALUES (?, ?, 'points', 'S1', 'tehran-mall', "
             "'2026-12-05', ?, ?, ?, 1)",
             [(7, PAN, "2027-12-05", 6, 2), (8, PAN, None, 4, 4)]),
    "lot_moves": ("INSERT INTO lot_moves (journal_id, lot_id, pan, kind, store_id, delta) "
                  "VALUES (?, ?, ?, 'points', 'S1', ?)",
                  [(1, 8, PAN, 4), (1, 7, PAN, 6), (2, 7, PAN, -4), (3, 7, PAN, 4)]),
    "batch_totals": ("INSERT INTO batch_totals (terminal_id, batch, credits, credit_amount) "
                     "VALUES (?, ?, ?, ?)", [("T0000001", "000001", 2, 1050)]),
}

#: Every shape of needs whose rows `fetch` reads by id or key.
_NEEDS = {
    "reversal": Needs(original=1, earn=1),
    "return": Needs(earn=1),
    "retransmission": Needs(reply=1),
    "batch": Needs(totals=("T0000001", "000001")),
    "earn-without-moves": Needs(original=5, earn=5),
    "reversed-earn": Needs(earn=6),
    "missing": Needs(original=99, earn=99, reply=99, totals=("T0000001", "000009")),
    "original-alone": Needs(original=1),
    "reply-and-batch": Needs(reply=1, totals=("T0000001", "000001")),
}


class _Trips(PgDb):
    """A real connection that counts its statements and its round trips: a statement outside
    a pipeline, or a pipeline (its statements go together)."""

    trips = statements = 0
    _inside = 0

    def execute(self, sql: str, parameters: Any = None, /) -> Any:
        self.statements += 1
        if not self._inside:
            self.trips += 1
        return super().execute(sql, parameters)

    @contextmanager
    def _counted(self) -> Iterator[None]:
        self.trips += 1
        self._inside += 1
        try:
            with super().pipeline():
                yield
        finally:
            self._inside -= 1

    def pipeline(self) -> AbstractContextManager[Any]:
        return self._counted()


def _fill(conn: Db) -> None:
    for sql, rows in _ROWS.values():
        for row in rows:
            conn.execute(sql, row)


@pytest.fixture
def engines(tmp_path: Path, pg_journal_url: str) -> Iterator[tuple[sqlite3.Connection, _Trips]]:
    SqliteJournal(tmp_path / "j.db").close()
    PgJournal(pg_journal_url).close()
    lite = sqlite3.connect(tmp_path / "j.db", isolation_level=None)
    pg = _Trips(open_db(pg_journal_url).raw)
    try:
        _fill(lite)
        _fill(pg)
        yield lite, pg
    finally:
        lite.close()
        pg.close()


@pytest.mark.parametrize("shape", list(_NEEDS))
def test_postgresql_reads_the_facts_sqlite_reads(
        engines: tuple[sqlite3.Connection, _Trips], shape: str) -> None:
    lite, pg = engines
    needs = _NEEDS[shape]
    assert fetch(pg, needs, NO_CHECKS) == fetch(lite, needs, NO_CHECKS)


def test_the_rows_read_are_the_ones_written(engines: tuple[sqlite3.Connection, _Trips]) -> None:
    lite, pg = engines
    for conn in (lite, pg):
        facts = fetch(conn, _NEEDS["reversal"], NO_CHECKS)
        assert facts.original_row is not None and facts.earn_row is facts.original_row
        assert [(m.lot.id, m.delta) for m in facts.original_row.lot_deltas] == [(8, 4), (7, 6)]
        assert facts.original_totals is not None
        assert (facts.original_totals.credits, facts.original_totals.credit_amount) == (2, 1050)
        assert [(r.journal_id, r.amount, r.clawed) for r in facts.earn_returned.returns] \
            == [(2, 400, 4)]
        assert facts.earn_returned.undone == frozenset({2})  # 4 refused: nothing undone
        assert fetch(conn, _NEEDS["reversed-earn"], NO_CHECKS).earn_returned.undone \
            == frozenset({6})
        missing = fetch(conn, _NEEDS["missing"], NO_CHECKS)
        assert (missing.original_row, missing.original_totals, missing.earn_row,
                missing.reply_message, missing.batch_totals) == (None, None, None, None, None)


@pytest.mark.parametrize("shape", list(_NEEDS))
def test_a_decisions_rows_come_in_one_round_trip(
        engines: tuple[sqlite3.Connection, _Trips], shape: str) -> None:
    _, pg = engines
    pg.trips = pg.statements = 0
    fetch(pg, _NEEDS[shape], NO_CHECKS)
    assert pg.trips == 1
    assert pg.statements == _STATEMENTS[shape]


#: The statements each shape takes: one a row named, the row a reversal's original and its
#: earn read once.
_STATEMENTS = {"reversal": 4, "return": 3, "retransmission": 1, "batch": 1,
               "earn-without-moves": 4, "reversed-earn": 3, "missing": 6, "original-alone": 2,
               "reply-and-batch": 2}
