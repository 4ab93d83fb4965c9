"""The replay memory's look-ups on PostgreSQL (docs/switch.md, "Memory"): the same SQL as on
SQLite, without SQLite's index hints, planned on the indexes of the last migration.
Answers from a PostgreSQL journal are compared with memory's in
tests/switch/test_replay_memory.py (its `postgresql` cases)."""

from __future__ import annotations

import datetime as dt

from switch.journal.postgres.connect import open_db
from switch.journal.postgres.journal import PgJournal
from switch.journal.sql import recall
from switch.journal.sql.db import POSTGRES

#: Enough rows that the planner weighs the indexes against a scan by its statistics.
ROWS = 20_000


def _filled(url: str) -> None:
    """A migrated journal of `ROWS` requests, every tenth a reversal answered 25."""
    PgJournal(url).close()
    db = open_db(url)
    try:
        db.execute(
            "INSERT INTO journal (id, at, business_day, kind, terminal_id, stan, transmission, "
            "response_code, amount, points, sv, original_stan, original_transmission) "
            "SELECT g, '2026-11-20T10:00:00+00:00', DATE '2026-11-20', "
            "CASE WHEN g % 10 = 0 THEN 'reversal' ELSE 'earn' END, "
            "'T' || lpad((g % 50)::text, 7, '0'), lpad(g::text, 6, '0'), "
            "lpad((1120100000 + g)::text, 10, '0'), "
            "CASE WHEN g % 10 = 0 THEN '25' ELSE '00' END, 1000, 1, 0, "
            "CASE WHEN g % 10 = 0 THEN lpad((g + 1)::text, 6, '0') END, "
            "CASE WHEN g % 10 = 0 THEN lpad((1120100001 + g)::text, 10, '0') END "
            f"FROM generate_series(1, {ROWS}) g")
        db.execute("ANALYZE journal")
    finally:
        db.close()


def test_each_look_up_is_planned_on_its_index(pg_journal_url: str) -> None:
    _filled(pg_journal_url)
    db = open_db(pg_journal_url)
    try:
        args = ("1120100777", "T0000027", "000777", dt.date(2026, 11, 1).isoformat())
        for sql, index in ((recall._request(POSTGRES), "journal_request"),
                           (recall._tombstone(POSTGRES), "journal_tombstone")):
            assert "INDEXED BY" not in sql
            plan = "\n".join(str(r[0]) for r in db.execute("EXPLAIN " + sql, args))
            assert index in plan, plan
            assert "Seq Scan" not in plan, plan
    finally:
        db.close()


def test_a_look_up_finds_the_newest_row_of_the_key_and_its_tombstone(pg_journal_url: str
                                                                     ) -> None:
    _filled(pg_journal_url)
    db = open_db(pg_journal_url)
    try:
        since = dt.date(2026, 11, 1)
        found = recall.remembered(db, "T0000027|000777|1120100777", since)
        assert found is not None and found[0].journal_id == 777 and found[0].approved
        assert found[0].day == dt.date(2026, 11, 20)
        assert recall.remembered(db, "T0000027|000777|1120100778", since) is None
        # Row 780 is a reversal answered 25 naming T0000030|000781|1120100781.
        assert recall.tombstone(db, "T0000030|000781|1120100781", since) == 780
        assert recall.tombstone(db, "T0000030|000781|1120100781", dt.date(2026, 11, 21)) is None
    finally:
        db.close()
