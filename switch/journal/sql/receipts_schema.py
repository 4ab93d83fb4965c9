"""`receipt_optout`: the mobile numbers that get no receipt SMS (docs/messaging.md,
"Receipts"). A row means off; an address without one gets receipts where its store sends
them. Apart from `message_consent`, whose `promotional` flag is the customer's answer or
nothing ("never asked"), so that turning receipts off says nothing about promotions.
"""

from __future__ import annotations

import sqlite_utils

SQLITE_TABLE = ("CREATE TABLE receipt_optout (address TEXT PRIMARY KEY, source TEXT NOT NULL, "
                "updated_at TEXT NOT NULL) WITHOUT ROWID")

POSTGRES_TABLES = ("CREATE TABLE receipt_optout (address TEXT PRIMARY KEY, "
                   "source TEXT NOT NULL, updated_at TIMESTAMPTZ NOT NULL)",)


def migrate_receipt_optout(db: sqlite_utils.Database) -> None:
    db.execute(SQLITE_TABLE)
