"""The schema's history (`switch.journal.schema`) applied to an SQLite file."""

from __future__ import annotations

import datetime as dt
import sqlite3

import sqlite_utils

from switch.journal.schema import MIGRATIONS, refuse_newer

__all__ = ["MIGRATIONS", "migrate"]


def migrate(conn: sqlite3.Connection, location: str = "") -> int:
    """Bring the schema to the latest version; returns it. A schema newer than this LPS knows
    is refused before anything is written (`JournalError` naming both versions)."""
    db = sqlite_utils.Database(conn)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    refuse_newer(done, MIGRATIONS, location or "the journal")
    version = max(done, default=0)
    for number, name, step, _postgres in MIGRATIONS:
        if number in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            step(db)
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                (number, name, dt.datetime.now(dt.UTC).isoformat()),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        version = number
    return version
