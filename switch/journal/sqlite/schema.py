"""The SQLite journal's schema: versioned migrations, applied in order, each in its own
transaction (docs/switch.md, the journal). Append new ones; never edit old ones: a database
made by any earlier version opens and recovers as it is.

Tables: `journal` (one row per answered request or operator command, append-only), `lots`,
`lot_moves`, `cards`, `terminals` (1); indexes by RRN and original (2); `terminal_keys` and
`card_pins`, under the HSM's LMK (3); the programs' `customers`, `card_club`, `card_spend`,
`card_stamps` (4, docs/programs.md) and `issued_cards` (5); the verified checkpoint `verified`,
`verified_cards`, `verified_lots` (6); `batch_totals` (7); the messaging outbox `outbox`,
`outbox_parts`, `message_consent` (8, docs/messaging.md §Tables); the journal by request key
and by tombstone (9, docs/switch.md "Memory").
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable

import sqlite_utils

from switch.journal.sqlite.recall import TOMBSTONE_ROWS
from switch.journal.sqlite.sql import JOURNAL_BATCH_TOTALS, TOTALS_COLUMNS

Migration = tuple[int, str, Callable[[sqlite_utils.Database], None]]


def _v1(db: sqlite_utils.Database) -> None:
    db.create_table("journal", {
        "id": int, "at": str, "business_day": str, "kind": str, "mti": str, "pc": str,
        "terminal_id": str, "store_id": str, "coalition_id": str, "pan": str, "stan": str,
        "transmission": str, "rrn": str, "amount": int, "points": int, "sv": int,
        "response_code": str, "batch": str, "digest": str, "original_id": int,
        "original_stan": str, "original_transmission": str, "response": str, "detail": str,
    }, pk="id", not_null={"at", "business_day", "kind", "amount", "points", "sv"})
    db.create_table("lots", {
        "id": int, "pan": str, "kind": str, "store_id": str, "coalition_id": str,
        "earned_on": str, "expires_on": str, "initial": int, "remaining": int,
        "journal_id": int,
    }, pk="id", not_null={"pan", "kind", "store_id", "initial", "remaining", "journal_id"})
    db.create_table("lot_moves", {
        "journal_id": int, "lot_id": int, "pan": str, "kind": str, "store_id": str,
        "delta": int,
    }, not_null={"journal_id", "lot_id", "pan", "kind", "store_id", "delta"})
    db.create_table("cards", {
        "pan": str, "coalition_id": str, "status": str, "enrolled_on": str,
    }, pk="pan", not_null={"coalition_id", "status", "enrolled_on"})
    db.create_table("terminals", {
        "id": str, "store_id": str, "signed_on": int,
    }, pk="id")
    db.table("journal").create_index(["business_day"], index_name="journal_day")
    db.table("journal").create_index(["pan"], index_name="journal_pan")
    db.table("lots").create_index(["pan"], index_name="lots_pan")
    db.table("lot_moves").create_index(["journal_id"], index_name="lot_moves_journal")


def _v2(db: sqlite_utils.Database) -> None:
    # Returns look their original up by RRN, reversals by original_id, long after the cache.
    db.table("journal").create_index(["rrn"], index_name="journal_rrn")
    db.table("journal").create_index(["original_id"], index_name="journal_original")


def _v3(db: sqlite_utils.Database) -> None:
    # Message security (docs/security.md): keys and PINs only as the HSM wrapped them (LMK).
    db.create_table("terminal_keys", {
        "terminal_id": str, "tmk": str, "tmk_kcv": str, "mac": str, "mac_kcv": str,
        "pin": str, "pin_kcv": str, "bdk": str, "bdk_kcv": str, "updated_at": str,
    }, pk="terminal_id")
    db.create_table("card_pins", {
        "pan": str, "pin": str, "tries": int, "updated_at": str,
    }, pk="pan", not_null={"tries"})


def _v4(db: sqlite_utils.Database) -> None:
    # The programs' current values (docs/programs.md), rewritten with the journal row.
    db.create_table("customers", {
        "pan": str, "name": str, "phone": str, "birth_date": str, "enrolled_at": str,
    }, pk="pan")
    db.create_table("card_club", {
        "pan": str, "tier": str, "tier_day": str, "earned_day": str, "earned": int,
        "birthday_year": int,
    }, pk="pan", not_null={"earned", "birthday_year"})
    db.create_table("card_spend", {
        "pan": str, "business_day": str, "amount": int,
    }, pk=("pan", "business_day"), not_null={"amount"})
    db.create_table("card_stamps", {
        "pan": str, "store_id": str, "stamps": int, "rewards": int,
    }, pk=("pan", "store_id"), not_null={"stamps", "rewards"})


def _v5(db: sqlite_utils.Database) -> None:
    # Numbers issued to the printer but not enrolled yet must never be issued again.
    db.create_table("issued_cards", {
        "pan": str, "file": str, "issued_at": str,
    }, pk="pan", not_null={"file", "issued_at"})


def _v6(db: sqlite_utils.Database) -> None:
    # The verified checkpoint (switch/journal/sqlite/verify.py): start-up checks the rows
    # after it against the sums it records instead of re-adding the whole journal. No row in
    # `verified`: nothing is verified yet, so the first start-up after this migration checks
    # every row (and records the checkpoint). Absent rows in the other two tables stand for 0.
    db.execute(
        "CREATE TABLE verified (id INTEGER PRIMARY KEY CHECK (id = 1), "
        "journal_id INTEGER NOT NULL, at TEXT NOT NULL)")
    db.execute(
        "CREATE TABLE verified_cards (pan TEXT NOT NULL, kind TEXT NOT NULL, "
        "total INTEGER NOT NULL, PRIMARY KEY (pan, kind)) WITHOUT ROWID")
    db.execute(
        "CREATE TABLE verified_lots (lot_id INTEGER PRIMARY KEY, pan TEXT NOT NULL, "
        "kind TEXT NOT NULL, moved INTEGER NOT NULL)")
    # The live lots (what the cache loads and the per-card check adds up), without the spent
    # and expired ones that make up most of the table after a while.
    db.execute("CREATE INDEX lots_live ON lots (pan, kind) WHERE remaining != 0")


def _v7(db: sqlite_utils.Database) -> None:
    # Each terminal batch's 0500 totals, changed in the same transaction as the journal row,
    # so that a 0500 counts the whole batch however long it stayed open (the cache only holds
    # the idempotency window). Filled from the journal for the batches already there.
    cols = ", ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in TOTALS_COLUMNS)
    db.execute(f"CREATE TABLE batch_totals (terminal_id TEXT NOT NULL, batch TEXT NOT NULL, "
               f"{cols}, PRIMARY KEY (terminal_id, batch)) WITHOUT ROWID")
    db.execute(f"INSERT INTO batch_totals SELECT * FROM ({JOURNAL_BATCH_TOTALS})")


#: The messaging tables. `IF NOT EXISTS`: databases where an earlier `lps messages` made them
#: (before this migration existed) take it without error.
_MESSAGING = (
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


def _v8(db: sqlite_utils.Database) -> None:
    for statement in _MESSAGING:
        db.execute(statement)


def _replay_indexes(db: sqlite_utils.Database) -> None:
    # Requests that left the replay memory are read back by their key (docs/switch.md,
    # "Memory"): DE7 first, so fresh keys (DE7 about now) share the index's last pages; and
    # the tombstones (reversals answered 25) by their original's key, a small partial index.
    # Both are built for the rows already there.
    db.execute("CREATE INDEX journal_request ON journal (transmission, terminal_id, stan)")
    db.execute("CREATE INDEX journal_tombstone ON journal "
               f"(original_transmission, terminal_id, original_stan) WHERE {TOMBSTONE_ROWS}")


#: Versioned migrations, applied in order, each in its own transaction. Append, never edit.
MIGRATIONS: list[Migration] = [
    (1, "journal, lots, lot_moves, cards, terminals", _v1),
    (2, "journal indexes by rrn and original_id", _v2),
    (3, "terminal_keys and card_pins (under the HSM's LMK)", _v3),
    (4, "programs: customers, card_club, card_spend, card_stamps", _v4),
    (5, "programs: issued_cards (numbers sent to the card printer)", _v5),
    (6, "verified checkpoint: verified, verified_cards, verified_lots; lots_live", _v6),
    (7, "batch_totals: each terminal batch's 0500 totals", _v7),
    (8, "messaging: outbox, outbox_parts, message_consent", _v8),
    (9, "journal indexes by request key and by tombstone", _replay_indexes),
]


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to the latest version; returns it."""
    db = sqlite_utils.Database(conn)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    version = max(done, default=0)
    for number, name, step in MIGRATIONS:
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
