"""The messaging tables in the switch's SQLite database, as one migration.

`migrate_messaging` has the signature of `switch.store.MIGRATIONS` steps; the store appends it
to its list. Every statement is `IF NOT EXISTS`, so a database that got the tables from
`ensure_schema` (the sender's own check, for a store that has not appended it yet) takes the
migration later without error.

Tables (docs/messaging.md §Tables): `outbox` (one row per message), `outbox_parts` (one row per
SMS part the SMSC acknowledged, with its message id and its delivery receipt), `message_consent`
(opt-outs from promotional messages, keyed by normalised address).
"""

from __future__ import annotations

import sqlite3

import sqlite_utils

__all__ = ["MIGRATION_NAME", "ensure_schema", "migrate_messaging"]

MIGRATION_NAME = "messaging: outbox, outbox_parts, message_consent"

STATES = ("queued", "sending", "sent", "delivered", "failed", "dead")

_STATEMENTS = (
    "CREATE TABLE IF NOT EXISTS outbox ("
    " id INTEGER PRIMARY KEY,"
    " channel TEXT NOT NULL CHECK (channel IN ('sms', 'email')),"
    " recipient TEXT NOT NULL,"
    " customer_ref TEXT NOT NULL,"
    " template TEXT NOT NULL,"
    " params TEXT NOT NULL,"
    " kind TEXT NOT NULL CHECK (kind IN ('transactional', 'promotional')),"
    " coalition_id TEXT,"
    " store_id TEXT,"
    " dedupe_key TEXT UNIQUE,"
    " due_at TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),"
    " state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN "
    "('queued', 'sending', 'sent', 'delivered', 'failed', 'dead')),"
    " last_error TEXT,"
    " smsc_message_id TEXT,"
    " parts INTEGER,"
    " created_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL,"
    " sent_at TEXT,"
    " delivered_at TEXT)",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (channel, due_at) WHERE state = 'queued'",
    "CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state)",
    "CREATE TABLE IF NOT EXISTS outbox_parts ("
    " outbox_id INTEGER NOT NULL REFERENCES outbox (id),"
    " part INTEGER NOT NULL CHECK (part >= 1),"
    " smsc_message_id TEXT NOT NULL,"
    " submitted_at TEXT NOT NULL,"
    " receipt TEXT,"
    " receipt_at TEXT,"
    " PRIMARY KEY (outbox_id, part)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS outbox_parts_smsc ON outbox_parts (smsc_message_id)",
    "CREATE TABLE IF NOT EXISTS message_consent ("
    " address TEXT PRIMARY KEY,"
    " promotional INTEGER NOT NULL CHECK (promotional IN (0, 1)),"
    " source TEXT NOT NULL,"
    " updated_at TEXT NOT NULL) WITHOUT ROWID",
)


def migrate_messaging(db: sqlite_utils.Database) -> None:
    """The messaging tables (a `switch.store.MIGRATIONS` step: runs inside its transaction)."""
    for statement in _STATEMENTS:
        db.execute(statement)


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the tables when the store's migrations have not (idempotent, one transaction)."""
    present = conn.execute(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' "
        "AND name IN ('outbox', 'outbox_parts', 'message_consent')").fetchone()[0]
    if present == 3:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        migrate_messaging(sqlite_utils.Database(conn))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
