"""The console's tables in the switch's database, under their own migration table.

The switch owns `schema_migrations`; the console versions its tables in `console_migrations` so
the two never race for a migration number. The audit log refuses UPDATE and DELETE by trigger.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from switch.store import connect
from switch.store import migrate as migrate_switch

MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "staff, sessions, login failures, audit log, adjustments", """
CREATE TABLE console_staff (
    username TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL
);
CREATE TABLE console_sessions (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES console_staff(username),
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE console_login_failures (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL,
    client TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX console_login_failures_at ON console_login_failures(at);
CREATE TABLE console_audit (
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
CREATE TRIGGER console_audit_no_update BEFORE UPDATE ON console_audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER console_audit_no_delete BEFORE DELETE ON console_audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE console_adjustments (
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
"""),
    (2, "login failures looked up by (username, address)", """
CREATE INDEX console_login_failures_pair ON console_login_failures(username, client, at);
"""),
]


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the console's missing migrations, each in its own transaction; returns the version."""
    conn.execute("CREATE TABLE IF NOT EXISTS console_migrations "
                 "(version INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    done = {r[0] for r in conn.execute("SELECT version FROM console_migrations")}
    for version, name, script in MIGRATIONS:
        if version in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT 1 FROM console_migrations WHERE version = ?",
                            (version,)).fetchone() is None:
                for statement in _statements(script):
                    conn.execute(statement)
                conn.execute("INSERT INTO console_migrations VALUES (?, ?)", (version, name))
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


def open_db(path: str | Path) -> sqlite3.Connection:
    """A read-write connection to the switch's database with the console's tables present."""
    conn = connect(path)
    migrate_switch(conn)  # a console started before the switch sees its (empty) tables
    migrate(conn)
    return conn
