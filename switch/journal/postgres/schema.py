"""The schema's history (`switch.journal.schema`) applied to a PostgreSQL database: each step's
PostgreSQL statements in a transaction of its own, under an advisory lock so that two starting
processes never apply the same step twice."""

from __future__ import annotations

import datetime as dt

from switch.journal.postgres.connect import PgDb
from switch.journal.schema import MIGRATIONS, refuse_newer

#: The advisory lock migrations hold (any constant no other user of the database takes).
MIGRATION_LOCK = 0x4C50_534D  # "LPSM"


def migrate(db: PgDb, location: str) -> int:
    """Bring the schema to the latest version; returns it. A schema newer than this LPS knows
    is refused before anything is written (`JournalError` naming both versions)."""
    assert not db.in_transaction
    db.execute("BEGIN")
    try:
        db.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
        db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                   "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)")
        done = {int(row[0]) for row in db.execute("SELECT version FROM schema_migrations")}
        refuse_newer(done, MIGRATIONS, location)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    version = max(done, default=0)
    for migration in MIGRATIONS:
        if migration.number in done:
            continue
        db.execute("BEGIN")
        try:
            db.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
            again = db.execute("SELECT 1 FROM schema_migrations WHERE version = ?",
                               (migration.number,)).fetchone()
            if again is None:  # not applied meanwhile by another process
                for statement in migration.postgres:
                    db.execute(statement)
                db.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                           (migration.number, migration.name,
                            dt.datetime.now(dt.UTC).isoformat()))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        version = migration.number
    return version
