"""The journal on a real PostgreSQL server (`PgJournal`, `PgReader`): the same migrations, group
commit, recovery, checks and settlement as on SQLite (docs/switch.md, "PostgreSQL")."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import psycopg
import pytest

from settlement.day import DayBook, settle_rows, stores_from_config
from settlement.journal import Journal, settle_journal
from settlement.render import render
from switch.core import snapshot
from switch.journal import EmptyDatabase, JournalError, open_journal, open_reader
from switch.journal.postgres.journal import PgJournal
from switch.journal.schema import MIGRATIONS
from tests.pg.simulated import Both
from tests.switch.support import NOW


def test_migrations_make_the_same_tables_and_a_second_open_changes_nothing(
        pg_journal_url: str) -> None:
    first = PgJournal(pg_journal_url)
    assert first.version == MIGRATIONS[-1].number
    first.close()
    again = PgJournal(pg_journal_url)
    assert again.version == MIGRATIONS[-1].number
    again.close()
    with psycopg.connect(pg_journal_url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations "
                                               "ORDER BY version")]
        money = conn.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'journal' "
            "AND column_name IN ('id', 'amount', 'points', 'sv')").fetchall()
    assert versions == [m.number for m in MIGRATIONS]
    assert {r[0] for r in money} == {"bigint"}


def test_a_schema_from_a_newer_lps_is_refused_naming_both_versions(pg_journal_url: str) -> None:
    PgJournal(pg_journal_url).close()
    newer = MIGRATIONS[-1].number + 1
    with psycopg.connect(pg_journal_url) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (%s, 'from the future', now())",
                     (newer,))
    with pytest.raises(JournalError) as caught:
        PgJournal(pg_journal_url)
    message = str(caught.value)
    assert f"version {newer}" in message and f"up to {MIGRATIONS[-1].number}" in message
    assert "\n" not in message


def test_an_unreachable_database_is_one_line_without_the_password() -> None:
    with pytest.raises(JournalError) as caught:
        open_journal("postgresql://lps:s3cret-pw@127.0.0.1:1/lps?connect_timeout=2")
    message = str(caught.value)
    assert "127.0.0.1:1" in message and "s3cret-pw" not in message and "\n" not in message


def test_the_simulation_decides_the_same_on_both_engines(both) -> None:  # type: ignore[no-untyped-def]
    _, sqlite_sim, _, pg_sim = both
    assert [(t.journal_id, t.response_code) for t in sqlite_sim.txns.values()] == \
        [(t.journal_id, t.response_code) for t in pg_sim.txns.values()]


def test_recovery_gives_back_the_same_state_on_both_engines(both) -> None:  # type: ignore[no-untyped-def]
    sqlite_path, sqlite_sim, url, _ = both
    states = []
    for database in (sqlite_path, url):
        journal = open_journal(database)
        try:
            states.append(snapshot(journal.load(sqlite_sim.config, None, NOW)).durable())
            result = journal.check(full=True)
        finally:
            journal.close()
        assert result.problems == []
    assert states[0] == states[1]


_TAIL = ("SELECT lot_id FROM lot_moves WHERE journal_id > "
         "(SELECT journal_id FROM verified WHERE id = 1)")


def test_the_start_up_check_finds_lots_changed_outside_the_tail_on_both_engines(
        both: Both, tmp_path: Path) -> None:
    """docs/switch.md, "What start-up checks": a verified lot the tail never moved that holds
    another sum, and a spent lot outside the checkpoint made live again, are found by the
    start-up check on either engine. (PostgreSQL's database is shared: put back after.)"""
    sqlite_path, _, url, _ = both
    copy = tmp_path / "lps.db"
    copy.write_bytes(sqlite_path.read_bytes())
    copy.chmod(0o600)
    for database, mark in ((str(copy), "?"), (url, "%s")):
        [(changed, moved)] = _rows(
            database, f"SELECT lot_id, moved FROM verified_lots WHERE lot_id NOT IN ({_TAIL}) "
            "ORDER BY lot_id LIMIT 1")
        [(spent,)] = _rows(
            database, f"SELECT id FROM lots WHERE remaining = 0 AND id NOT IN ({_TAIL}) "
            "AND id NOT IN (SELECT lot_id FROM verified_lots) ORDER BY id LIMIT 1")
        tampered = ((changed, moved + 7), (spent, 5))
        put_back = ((changed, moved), (spent, 0))
        _set_remaining(database, mark, tampered)
        try:
            journal = open_journal(database)
            try:
                problems = journal.check(full=False).problems
            finally:
                journal.close()
        finally:
            _set_remaining(database, mark, put_back)
        assert problems == [
            f"lot {changed}: remaining {moved + 7} but its moves sum to {moved}",
            f"lot {spent}: remaining 5 but its moves sum to 0"], database


def _rows(database: str, query: str) -> list[tuple[int, ...]]:
    if database.startswith("postgresql://"):
        with psycopg.connect(database) as pg:
            return [tuple(map(int, row)) for row in pg.execute(query)]
    lite = sqlite3.connect(database)
    try:
        return [tuple(map(int, row)) for row in lite.execute(query)]
    finally:
        lite.close()


def _set_remaining(database: str, mark: str, lots: tuple[tuple[int, int], ...]) -> None:
    statement = f"UPDATE lots SET remaining = {mark} WHERE id = {mark}"
    if database.startswith("postgresql://"):
        with psycopg.connect(database) as pg:
            for lot, remaining in lots:
                pg.execute(statement, (remaining, lot))
        return
    lite = sqlite3.connect(database)
    try:
        with lite:
            for lot, remaining in lots:
                lite.execute(statement, (remaining, lot))
    finally:
        lite.close()


def test_settlement_seals_the_same_files_on_both_engines(both) -> None:  # type: ignore[no-untyped-def]
    sqlite_path, sqlite_sim, url, _ = both
    stores = stores_from_config(sqlite_sim.config)
    for day in sqlite_sim.days:
        files = []
        for database in (sqlite_path, url):
            with Journal(database) as j:
                files.append(render(settle_journal(j, DayBook(day, stores))))
        assert files[0] == files[1]
        with Journal(url) as j:  # the per-entry path agrees on PostgreSQL too
            slow = settle_rows(day, stores, j.rows(day), j.lots_due(day), j.batch_closes(day))
        with Journal(url) as j:
            assert render(slow) == render(settle_journal(j, DayBook(day, stores)))


def test_the_reader_refuses_a_database_that_is_not_a_journal(pg_journal_url: str) -> None:
    # No table at all: no LPS has started on it yet (`lps keys` reads that as no keys).
    with pytest.raises(EmptyDatabase, match="not an LPS journal yet"):
        open_reader(pg_journal_url)
    with psycopg.connect(pg_journal_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (a integer)")
    with pytest.raises(JournalError, match="not an LPS journal \\(missing tables") as info:
        open_reader(pg_journal_url)
    assert not isinstance(info.value, EmptyDatabase)


def test_commands_work_on_the_configured_postgresql_journal_and_make_no_sqlite_file(
        pg_journal_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lps.cli import main
    from tests.engines import query, toml_settings
    from tests.switch.support import EXAMPLE, card

    node = tmp_path / "node"
    config = tmp_path / "lps.toml"
    settings = {"database": node / "lps.db", "journal_url": pg_journal_url}
    config.write_text(re.sub(r'(?m)^database = "var/lps.db".*\n', toml_settings(settings),
                             EXAMPLE.read_text(), count=1))
    pan = card(7)
    assert main(["cards", "enroll", pan, "--config", str(config)]) == 0
    assert main(["balance", pan, "--config", str(config)]) == 0
    assert main(["check", "--full", "--config", str(config)]) == 0
    assert main(["cards", "block", pan, "--config", str(config)]) == 0
    capsys.readouterr()
    assert query(pg_journal_url, "SELECT status FROM cards") == [("blocked",)]
    assert not (node / "lps.db").exists()
