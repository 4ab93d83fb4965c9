"""The console's own SQLite database: staff, sessions, login failures, the audit log, pending
adjustments and card handles (docs/console.md, "The console's database").

It lives beside the switch's database as `<switch database>.console.db`, so the console, every
`lps` command that writes an audit row and settlement all find the same file from the switch's
configuration alone, with no setting of its own to keep in step. It is created 0600 and refused
wider, like the switch's (switch/filemode.py): it holds password hashes and the card numbers of
pending adjustments.

On PostgreSQL it stays an SQLite file of the node's own: `[switch] database` is then a name in
`[switch] state_dir` (docs/console.md, "The console's database").

The console never writes the switch's database. A switch database made by an older console
still holds that console's `console_*` tables: when the console's database is created they are
copied over once (see `import_legacy`) and then ignored where they are.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from switch.filemode import private_database

SUFFIX = ".console.db"
#: The tables an older console kept in the switch's database, in copy order (foreign keys).
LEGACY = ("console_staff", "console_sessions", "console_login_failures", "console_audit",
          "console_adjustments")


class ConsoleDbError(RuntimeError):
    """The console's database cannot be opened or moved; the message names the file."""


MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "staff, sessions, login failures, audit log, adjustments, card handles", """
CREATE TABLE staff (
    username TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    language TEXT NOT NULL DEFAULT 'fa',
    last_login TEXT
);
CREATE TABLE staff_stores (
    username TEXT NOT NULL REFERENCES staff(username),
    store_id TEXT NOT NULL,
    PRIMARY KEY (username, store_id)
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES staff(username),
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE card_handles (
    session_hash TEXT NOT NULL,
    ref TEXT NOT NULL,
    pan TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (session_hash, ref)
);
CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL,
    client TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX login_failures_at ON login_failures(at);
CREATE INDEX login_failures_pair ON login_failures(username, client, at);
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    before TEXT,
    after TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_action ON audit_log(action, target);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE adjustments (
    id INTEGER PRIMARY KEY,
    pan TEXT NOT NULL,
    points INTEGER NOT NULL,
    store_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    maker TEXT NOT NULL,
    made_at TEXT NOT NULL,
    status TEXT NOT NULL,
    checker TEXT,
    decided_at TEXT,
    journal_id INTEGER,
    error TEXT
);
CREATE TABLE legacy_import (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at TEXT NOT NULL,
    source TEXT NOT NULL,
    rows TEXT NOT NULL,
    audit_last_hash TEXT
);
"""),
    (2, "card replacements waiting for a checker (docs/console.md, The service desk)", """
CREATE TABLE replacements (
    id INTEGER PRIMARY KEY,
    old_pan TEXT NOT NULL,
    new_pan TEXT NOT NULL,
    account INTEGER,
    points INTEGER NOT NULL,
    stored_value INTEGER NOT NULL,
    reason TEXT NOT NULL,
    maker TEXT NOT NULL,
    made_at TEXT NOT NULL,
    status TEXT NOT NULL,
    checker TEXT,
    decided_at TEXT,
    error TEXT
);
"""),
]


def console_path(switch_database: str | Path) -> Path:
    """`<switch database>.console.db`: where the console's database of that switch lives."""
    db = Path(switch_database)
    return db.with_name(db.name + SUFFIX)


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the missing migrations, each in its own transaction; returns the version."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                 "(version INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    for version, name, script in MIGRATIONS:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT 1 FROM schema_migrations WHERE version = ?",
                            (version,)).fetchone() is None:
                for statement in _statements(script):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, name))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return max(v for v, _, _ in MIGRATIONS)


def _statements(script: str) -> list[str]:
    """Split a script on `;` outside trigger bodies (executescript would commit on its own)."""
    out, buf = [], ""
    for line in script.strip().splitlines():
        buf += line + "\n"
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    return out


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection to a console database file (created 0600), autocommit, WAL."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with private_database(path, ConsoleDbError, "the console's database holds password "
                                                    "hashes and card numbers"):
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as exc:
        raise ConsoleDbError(f"{path}: {exc}") from None
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def open_console(switch_database: str | Path) -> sqlite3.Connection:
    """The console's database of this switch, migrated, with an older console's tables moved
    in on its creation (never touching the switch's database)."""
    conn = connect(console_path(switch_database))
    try:
        migrate(conn)
        import_legacy(conn, Path(switch_database))
    except BaseException:
        conn.close()
        raise
    return conn


def _legacy_source(switch_database: Path) -> sqlite3.Connection | None:
    """A read-only connection to a switch database that holds an older console's tables."""
    if not switch_database.exists():
        return None
    from switch.journal import JournalError
    from switch.journal.sqlite.connect import connect as connect_switch

    try:
        src = connect_switch(switch_database, readonly=True)
    except JournalError as exc:
        raise ConsoleDbError(str(exc)) from None
    names = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "console_audit" not in names:
        src.close()
        return None
    return src


def import_legacy(conn: sqlite3.Connection, switch_database: Path) -> None:
    """Copy an older console's tables out of the switch's database, once, in one transaction.

    The audit rows are copied with their ids and hashes, so the chain goes on from the last
    one; the copy is checked (row counts, the last hash, the chain's verdict) before it
    commits, else nothing is kept and `ConsoleDbError` says why. The switch's file is only read:
    the old tables stay there, ignored (docs/console.md, "Moving in from the switch's database").
    """
    if conn.execute("SELECT 1 FROM legacy_import").fetchone() is not None:
        return
    if conn.execute("SELECT COUNT(*) FROM staff").fetchone()[0] or \
            conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]:
        return  # a console database in use already: the move happens only into a new one
    src = _legacy_source(switch_database)
    if src is None:
        return
    try:
        _copy_legacy(conn, src, switch_database)
    finally:
        src.close()


def _copy_legacy(conn: sqlite3.Connection, src: sqlite3.Connection,
                 switch_database: Path) -> dict[str, int]:
    import datetime as dt
    import json

    from lps.console.audit import verify_rows

    legacy_audit = src.execute(
        "SELECT id, at, actor, action, target, before, after, prev_hash, hash "
        "FROM console_audit ORDER BY id").fetchall()
    expected = verify_rows(legacy_audit)
    counts: dict[str, int] = {}
    conn.execute("BEGIN IMMEDIATE")
    try:
        for row in src.execute("SELECT username, role, password_hash, active, created_at "
                               "FROM console_staff"):
            conn.execute("INSERT INTO staff (username, role, password_hash, active, created_at) "
                         "VALUES (?,?,?,?,?)", row)
        for row in src.execute("SELECT token_hash, username, csrf, created_at, expires_at "
                               "FROM console_sessions"):
            conn.execute("INSERT INTO sessions VALUES (?,?,?,?,?)", row)
        for row in src.execute("SELECT id, username, client, at FROM console_login_failures"):
            conn.execute("INSERT INTO login_failures VALUES (?,?,?,?)", row)
        conn.executemany("INSERT INTO audit_log VALUES (?,?,?,?,?,?,?,?,?)", legacy_audit)
        for row in src.execute(
                "SELECT id, pan, points, store_id, reason, maker, made_at, status, checker, "
                "decided_at, journal_id, error FROM console_adjustments"):
            conn.execute("INSERT INTO adjustments VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", row)
        for old, new in zip(LEGACY, ("staff", "sessions", "login_failures", "audit_log",
                                     "adjustments"), strict=True):
            had = src.execute(f"SELECT COUNT(*) FROM {old}").fetchone()[0]
            got = conn.execute(f"SELECT COUNT(*) FROM {new}").fetchone()[0]
            if had != got:
                raise ConsoleDbError(f"moving {old} from {switch_database}: {had} rows there, "
                                     f"{got} copied; nothing was moved")
            counts[old] = int(had)
        copied = conn.execute(
            "SELECT id, at, actor, action, target, before, after, prev_hash, hash "
            "FROM audit_log ORDER BY id").fetchall()
        if copied != legacy_audit or verify_rows(copied) != expected:
            raise ConsoleDbError(f"the audit log copied from {switch_database} differs from "
                                 "the original; nothing was moved")
        last = legacy_audit[-1][8] if legacy_audit else None
        conn.execute("INSERT INTO legacy_import VALUES (1, ?, ?, ?, ?)",
                     (dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                      str(switch_database), json.dumps(counts, sort_keys=True), last))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return counts
