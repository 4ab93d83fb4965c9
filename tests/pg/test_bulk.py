"""PostgreSQL's group commit in one statement a table (`switch.journal.sql.bulk`) against the
same batches written a row a statement, on two databases of a real server: every table the
batches touch must end the same (docs/switch.md, "PostgreSQL")."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from typing import Any

import psycopg
import pytest

from switch.core.programs.club import ClubRows
from switch.journal.batch import BatchRows
from switch.journal.postgres.connect import PgDb, open_db
from switch.journal.postgres.journal import PgJournal
from switch.journal.sql import bulk
from switch.journal.sql.append import write_batch, written_columns
from switch.journal.sql.db import POSTGRES

#: The tables a batch writes, each read back in a fixed order.
_READS = {
    "journal": "SELECT * FROM journal ORDER BY id",
    "lots": "SELECT * FROM lots ORDER BY id",
    "lot_moves": "SELECT journal_id, lot_id, pan, kind, store_id, delta FROM lot_moves "
                 "ORDER BY journal_id, lot_id, delta",
    "cards": "SELECT * FROM cards ORDER BY pan",
    "terminals": "SELECT * FROM terminals ORDER BY id",
    "card_club": "SELECT * FROM card_club ORDER BY pan",
    "card_spend": "SELECT * FROM card_spend ORDER BY pan, business_day",
    "card_stamps": "SELECT * FROM card_stamps ORDER BY pan, store_id",
    "batch_totals": "SELECT * FROM batch_totals ORDER BY terminal_id, batch",
}

_PANS = ["6037990000000011", "6037990000000029", "6037990000000037"]
_DAYS = [dt.date(2026, 12, 4), dt.date(2026, 12, 5)]


class _RowByRow(PgDb):
    """A PostgreSQL connection whose dialect writes a row a statement, as SQLite's does."""

    dialect = dataclasses.replace(POSTGRES, bulk_writes=False)


def _batch(rng: random.Random, first_id: int, lots: list[int], next_lot: int) -> BatchRows:
    """Entries `first_id`... whose keys repeat within the batch and across batches: cards,
    lots, terminals, club rows, spend days, stamp stores and terminal batches."""
    rows = BatchRows()
    at = dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC)
    for jid in range(first_id, first_id + rng.randint(1, 12)):
        pan = rng.choice(_PANS)
        response = ("0210", None, {39: "00", 48: "\u067e\u200c"})
        rows.journal.append((
            jid, (at + dt.timedelta(seconds=jid)).isoformat(), "2026-12-05", "earn", "0200",
            "000000", "T1", "S1", "C1", pan, f"{jid:06d}", "1205100000", f"{jid:012d}",
            rng.randint(0, 10**9), rng.randint(-500, 500), 0, "00", "000001",
            f"{jid:032x}", None, None, None, response if rng.random() < 0.8 else None,
            {"undone": True} if rng.random() < 0.2 else None, 3))
        if rng.random() < 0.6:
            rows.lots.append((next_lot, pan, "points", "S1", "C1", "2026-12-05",
                              rng.choice([None, "2027-12-05"]), 100, 0, jid))
            lots.append(next_lot)
            next_lot += 1
        for _ in range(rng.randint(0, 3)):
            if lots:
                lot, delta = rng.choice(lots), rng.randint(-40, 40)
                rows.moves.append((jid, lot, pan, "points", "S1", delta))
                rows.deltas.append((delta, lot))
        if rng.random() < 0.4:
            rows.cards.append((pan, rng.choice(["C1", "C2"]),
                               rng.choice(["active", "blocked"]), rng.choice(_DAYS).isoformat()))
        if rng.random() < 0.3:
            rows.terminals.append((rng.choice(["T1", "T2"]), rng.choice(["S1", "S2"]),
                                   rng.random() < 0.5))
        if rng.random() < 0.7:
            rows.clubs.append(ClubRows(
                pan, rng.choice(["", "silver", "gold"]), rng.choice([None, *_DAYS]),
                rng.choice([None, *_DAYS]), rng.randint(0, 10**6), rng.choice([0, 2026]),
                tuple((d, rng.randint(0, 10**7)) for d in rng.sample(_DAYS, rng.randint(0, 2))),
                tuple((s, rng.randint(0, 9), rng.randint(0, 3))
                      for s in rng.sample(["S1", "S2"], rng.randint(0, 2))),
                rng.choice(["", "vip"]), rng.choice([None, dt.date(2027, 1, 1)])))
        rows.totals.append((rng.choice(["T1", "T2"]), rng.choice(["000001", "000002"]),
                            *(rng.randint(0, 10**6) for _ in range(8))))
    return rows


def _write(db: PgDb, rows: BatchRows) -> None:
    db.execute("BEGIN")
    write_batch(db, rows, "test", written_columns(db))
    db.execute("COMMIT")


def _tables(db: PgDb) -> dict[str, list[tuple[Any, ...]]]:
    return {table: [tuple(r) for r in db.execute(sql).fetchall()]
            for table, sql in _READS.items()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batches_written_in_bulk_end_as_written_a_row_a_statement(
        pg_journal_url: str, pg_database: str, seed: int) -> None:
    for url in (pg_journal_url, pg_database):
        PgJournal(url).close()  # migrated
    in_bulk = open_db(pg_journal_url)
    one_by_one = _RowByRow(psycopg.connect(pg_database, autocommit=True))
    assert in_bulk.dialect.bulk_writes and not one_by_one.dialect.bulk_writes
    rng = random.Random(seed)
    lots: list[int] = []
    next_id = next_lot = 1
    try:
        for _ in range(6):
            rows = _batch(rng, next_id, lots, next_lot)
            next_id, next_lot = rows.ids[-1] + 1, len(lots) + 1
            _write(in_bulk, rows)
            _write(one_by_one, rows)
        got, expected = _tables(in_bulk), _tables(one_by_one)
        assert all(expected[t] for t in ("journal", "lots", "lot_moves", "card_club",
                                          "card_spend", "batch_totals"))
        assert got == expected
    finally:
        in_bulk.close()
        one_by_one.close()


def test_the_bulk_columns_are_the_migrated_schemas(pg_journal_url: str) -> None:
    """Each array's cast names its column's type: a migration that changes one must change
    `bulk` too."""
    PgJournal(pg_journal_url).close()
    with psycopg.connect(pg_journal_url) as conn:
        for table, columns in bulk.TABLES.items():
            types: dict[str, str] = dict(conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = %s", (table,)).fetchall())
            for name, kind in columns:
                expected = {"timestamptz": "timestamp with time zone"}.get(kind, kind)
                assert types.get(name) == expected, (table, name, types.get(name), kind)


def test_a_group_commit_opens_its_transaction_inside_its_pipeline(pg_journal_url: str) -> None:
    """docs/switch.md, "PostgreSQL": a single node's group commit sends nothing before its
    pipeline, whose first statement sets the transaction's lock timeout, so that BEGIN, the
    timeout and the journal's head go to the server together."""
    journal = PgJournal(pg_journal_url)
    try:
        def work(conn: psycopg.Connection[Any]) -> tuple[psycopg.pq.TransactionStatus, str]:
            db = journal._in_turn(conn)
            before = db.raw.info.transaction_status
            journal._write_rows(db, BatchRows())
            return before, db.execute("SELECT current_setting('lock_timeout')").fetchone()[0]

        before, timeout = journal.session.transaction(work)
        assert before == psycopg.pq.TransactionStatus.IDLE and timeout == "10s"
    finally:
        journal.close()
