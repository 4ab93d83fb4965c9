"""The journal package's edges: the engine chosen from `[switch] database`, the read-only
reader, the messaging migration on databases that had the tables already, and SQLite's
errors as one-line `JournalError`s (docs/switch.md, "The journal package")."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import switch.journal.sqlite.schema
from lps.cli import main
from lps.console import queries
from switch.config import ConfigError, load_config
from switch.journal import JournalError, JournalReader, open_outbox, open_reader, open_scan_reader
from switch.journal.sqlite.connect import connect
from switch.journal.sqlite.journal import SqliteJournal
from switch.journal.sqlite.schema import MIGRATIONS
from tests.security.support import write_config
from tests.switch.support import NOW, T1, card, earn, example_config, sign_on

URL = "postgresql://lps:s3cret-pw@db1:5432,db2:5432/lps"


def url_config(tmp_path: Path) -> Path:
    path = write_config(tmp_path)
    text = path.read_text().replace(f'"{tmp_path / "lps.db"}"', f'"{URL}"')
    assert URL in text
    path.write_text(text)
    return path


def test_a_postgresql_url_without_a_state_dir_is_refused_in_one_line_that_keeps_its_password(
        tmp_path: Path, monkeypatch: Any) -> None:
    path = url_config(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message and "switch.database" in message
    assert "PostgreSQL" in message and "s3cret" not in message and "db1" not in message


@pytest.mark.parametrize("command", [["check"], ["serve"], ["balance", card(1)]])
def test_commands_refuse_a_url_without_a_state_dir_before_opening_anything(
        tmp_path: Path, monkeypatch: Any, capsys: Any, command: list[str]) -> None:
    path = url_config(tmp_path)
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main([*command, "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "PostgreSQL" in err[0] and "s3cret" not in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no "postgresql:" directory


@pytest.mark.parametrize("command", [["check"], ["serve"]])
def test_an_unreachable_postgresql_journal_is_one_line_without_the_password(
        tmp_path: Path, monkeypatch: Any, capsys: Any, command: list[str]) -> None:
    path = url_config(tmp_path)
    unreachable = "postgresql://lps:s3cret-pw@127.0.0.1:1/lps?connect_timeout=2"
    text = path.read_text().replace(URL, unreachable)
    path.write_text(text.replace("[switch]\n", f'[switch]\nstate_dir = "{tmp_path / "node"}"\n',
                                 1))
    config = load_config(path)
    assert config.switch.journal == unreachable and "s3cret" not in repr(config.switch)
    monkeypatch.chdir(tmp_path)
    assert main([*command, "--config", str(path)]) == 3  # EXIT_INPUT / EXIT_SERVE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "127.0.0.1:1" in err[0] and "s3cret" not in err[0], err


def test_another_url_scheme_is_refused_too(tmp_path: Path) -> None:
    path = url_config(tmp_path)
    path.write_text(path.read_text().replace(URL, "mysql://root@localhost/lps"))
    with pytest.raises(ConfigError, match=r"a mysql:// URL is not a journal LPS knows"):
        load_config(path)


def journal_with_an_earn(tmp_path: Path) -> Path:
    from switch.core import handle

    cfg = example_config(tmp_path / "lps.db")
    journal = SqliteJournal(cfg.switch.database)
    state = journal.load(cfg, None, NOW)
    for msg in (sign_on(T1), earn(T1, 1, card(7), 100_000)):
        journal.append(handle(state, msg, NOW).entries)
    journal.close()
    return cfg.switch.database


def test_the_reader_never_takes_the_write_lock(tmp_path: Path) -> None:
    """The console and the commands read through it while the switch commits: even a
    reader that asks for the write lock does not hold up the group commit."""
    from switch.core import handle

    db = journal_with_an_earn(tmp_path)
    cfg = example_config(db)
    journal = SqliteJournal(db)
    state = journal.load(cfg, None, NOW)
    try:
        with queries.reading(db) as reader:
            conn = reader.conn  # type: ignore[attr-defined]
            conn.execute("BEGIN IMMEDIATE")
            journal.append(handle(state, earn(T1, 2, card(7), 50_000), NOW,
                                  fetch=journal.fetch).entries)
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                conn.execute("DELETE FROM lots")
            conn.execute("ROLLBACK")
            found = reader.card(card(7))
            assert found is not None and found.points == 15
    finally:
        journal.close()


@pytest.mark.parametrize("opener", [open_reader, open_scan_reader])
def test_the_reader_refuses_what_is_not_a_journal_in_one_line(
        tmp_path: Path, opener: Callable[[Path], JournalReader]) -> None:
    with pytest.raises(JournalError, match="no such journal database"):
        opener(tmp_path / "missing.db")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (a)").connection.close()
    other.chmod(0o600)
    with pytest.raises(JournalError, match=r"not an LPS journal \(missing tables cards, "):
        opener(other)
    text = tmp_path / "text.db"
    text.write_text("not a database at all, but long enough to have a header: " * 4)
    text.chmod(0o600)
    with pytest.raises(JournalError, match="not a readable SQLite database"):
        opener(text)


def test_an_sqlite_error_while_reading_is_one_journal_error(tmp_path: Path) -> None:
    db = journal_with_an_earn(tmp_path)
    reader = open_reader(db)
    try:
        damage = connect(db)
        damage.execute("ALTER TABLE lots RENAME TO lots_gone")
        damage.execute("CREATE TABLE lots (x)")
        damage.close()
        with pytest.raises(JournalError) as info:
            reader.card(card(7))
        assert str(info.value).startswith(f"{db}: ") and "\n" not in str(info.value)
        with pytest.raises(JournalError):
            list(reader.lots_due(NOW.date(), ()))  # generators too
    finally:
        reader.close()


def test_a_scan_readers_error_while_reading_is_one_journal_error(tmp_path: Path) -> None:
    """apsw's errors too (open_scan_reader): damaged before it opens, as the reader is the only
    connection its process may hold (switch/journal/sqlite/apsw_reader.py)."""
    db = journal_with_an_earn(tmp_path)
    damage = connect(db)
    damage.execute("ALTER TABLE lots RENAME TO lots_gone")
    damage.execute("CREATE TABLE lots (x)")
    damage.close()
    reader = open_scan_reader(db)
    try:
        bounds = reader.day_bounds(NOW.date())
        assert bounds is not None
        with pytest.raises(JournalError) as info:
            reader.lapsed([1], NOW.date())
        assert str(info.value).startswith(f"{db}: ") and "\n" not in str(info.value)
        assert "no such column" in str(info.value)
        assert reader.digest_rows(NOW.date(), *bounds)  # the journal itself still reads
    finally:
        reader.close()


def test_the_messaging_migration_takes_tables_an_older_lps_messages_made(
        tmp_path: Path, monkeypatch: Any) -> None:
    db = tmp_path / "lps.db"
    with monkeypatch.context() as m:
        m.setattr(switch.journal.sqlite.schema, "MIGRATIONS", [x for x in MIGRATIONS
                                                               if x[0] <= 7])
        old = SqliteJournal(db)
        assert old.version == 7
        old.close()
    # What `lps messages` made on such a database before the tables were a migration.
    conn = connect(db)
    [make] = [x.sqlite for x in MIGRATIONS if x.number == 8]
    import sqlite_utils

    make(sqlite_utils.Database(conn))
    conn.execute("INSERT INTO message_consent VALUES ('989121234567', 0, 'operator', 'x')")
    conn.close()
    journal = SqliteJournal(db)
    assert journal.version == MIGRATIONS[-1][0]  # 8 and those after it
    journal.close()
    box = open_outbox(db)
    try:
        assert box.consent("989121234567") is False  # the rows were kept
        assert box.counts() == {}
    finally:
        box.close()
    conn = connect(db, readonly=True)
    names = [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY version")]
    conn.close()
    assert "messaging: outbox, outbox_parts, message_consent" in names
