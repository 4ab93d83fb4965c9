"""The club's nightly tables (docs/customers.md, "Segments", "Triggers" and "Referrals"): each
account's RFM segment as the nightly job last computed it, the bonuses its triggers grant, and
the referral codes customers give to friends with who came by whose code.

`customer_segments` holds one row per account: the segment (`''`: none of the coalition's
definitions fits), the figures it was decided on and the account's tier that night (the tier
trigger's "before"), so `lps report`, the console and the
switch's coupon check read a segment without reading the journal again. `club_bonuses` makes a
trigger's bonus happen once: a row is written (`pending`) before the bonus goes to the switch
and marked `granted` with the bonus's journal row; a job that stopped in between finds the
journal row by the key in the adjustment's reason instead of granting twice.
"""

from __future__ import annotations

import sqlite_utils

SQLITE_TABLES = (
    "CREATE TABLE customer_segments ("
    " account_id INTEGER PRIMARY KEY REFERENCES accounts (id),"
    " coalition_id TEXT NOT NULL,"
    " segment TEXT NOT NULL,"
    " day TEXT NOT NULL,"
    " last_purchase TEXT,"
    " purchases INTEGER NOT NULL CHECK (purchases >= 0),"
    " spend INTEGER NOT NULL CHECK (spend >= 0),"
    " tier TEXT NOT NULL DEFAULT '')",
    "CREATE INDEX customer_segments_segment ON customer_segments (coalition_id, segment)",
    "CREATE TABLE club_bonuses ("
    " key TEXT PRIMARY KEY,"
    " account_id INTEGER NOT NULL,"
    " pan TEXT NOT NULL,"
    " store_id TEXT NOT NULL,"
    " points INTEGER NOT NULL CHECK (points > 0),"
    " state TEXT NOT NULL CHECK (state IN ('pending', 'granted')),"
    " journal_id INTEGER,"
    " created_at TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE referral_codes ("
    " account_id INTEGER PRIMARY KEY REFERENCES accounts (id),"
    " code TEXT NOT NULL UNIQUE,"
    " created_at TEXT NOT NULL)",
    "CREATE TABLE referrals ("
    " friend_id INTEGER PRIMARY KEY REFERENCES accounts (id),"
    " referrer_id INTEGER NOT NULL REFERENCES accounts (id),"
    " at TEXT NOT NULL,"
    " CHECK (friend_id <> referrer_id))",
)

POSTGRES_TABLES = (
    "CREATE TABLE customer_segments ("
    " account_id BIGINT PRIMARY KEY REFERENCES accounts (id),"
    " coalition_id TEXT NOT NULL,"
    " segment TEXT NOT NULL,"
    " day DATE NOT NULL,"
    " last_purchase DATE,"
    " purchases BIGINT NOT NULL CHECK (purchases >= 0),"
    " spend BIGINT NOT NULL CHECK (spend >= 0),"
    " tier TEXT NOT NULL DEFAULT '')",
    "CREATE INDEX customer_segments_segment ON customer_segments (coalition_id, segment)",
    "CREATE TABLE club_bonuses ("
    " key TEXT PRIMARY KEY,"
    " account_id BIGINT NOT NULL,"
    " pan TEXT NOT NULL,"
    " store_id TEXT NOT NULL,"
    " points BIGINT NOT NULL CHECK (points > 0),"
    " state TEXT NOT NULL CHECK (state IN ('pending', 'granted')),"
    " journal_id BIGINT,"
    " created_at TIMESTAMPTZ NOT NULL)",
    "CREATE TABLE referral_codes ("
    " account_id BIGINT PRIMARY KEY REFERENCES accounts (id),"
    " code TEXT NOT NULL UNIQUE,"
    " created_at TIMESTAMPTZ NOT NULL)",
    "CREATE TABLE referrals ("
    " friend_id BIGINT PRIMARY KEY REFERENCES accounts (id),"
    " referrer_id BIGINT NOT NULL REFERENCES accounts (id),"
    " at TIMESTAMPTZ NOT NULL,"
    " CHECK (friend_id <> referrer_id))",
)


def migrate_club(db: sqlite_utils.Database) -> None:
    """SQLite's step: the two tables (empty: the nightly job fills them)."""
    for statement in SQLITE_TABLES:
        db.conn.execute(statement)


#: What a `club_bonuses` row grants: bonus points, or gift credit to the purse in rials
#: (docs/customers.md "Gift credit to the purse"); `points` holds the amount in that unit.
BONUS_UNIT = ("ALTER TABLE club_bonuses ADD COLUMN unit TEXT NOT NULL DEFAULT 'points' "
              "CHECK (unit IN ('points', 'rials'))",)


def bonus_unit(db: sqlite_utils.Database) -> None:
    """SQLite's step of the unit column (the same statement as PostgreSQL's)."""
    for statement in BONUS_UNIT:
        db.conn.execute(statement)
