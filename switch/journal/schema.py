"""The journal's schema: one history of versioned migrations, each with the SQL of both
engines, applied in order, each in its own transaction (docs/switch.md, the journal). Append
new ones; never edit old ones: a database made by any earlier version opens and recovers as it
is. A database whose schema is newer than the last migration here was made by a newer LPS:
`refuse_newer` stops before anything is written.

Tables: `journal` (one row per answered request or operator command, append-only), `lots`,
`lot_moves`, `cards`, `terminals` (1); indexes by RRN and original (2); `terminal_keys` and
`card_pins`, under the HSM's LMK (3); the programs' `customers`, `card_club`, `card_spend`,
`card_stamps` (4, docs/programs.md) and `issued_cards` (5); the verified checkpoint `verified`,
`verified_cards`, `verified_lots` (6); `batch_totals` (7); the messaging outbox `outbox`,
`outbox_parts`, `message_consent` (8, docs/messaging.md §Tables, `sql/messaging_schema.py`);
the coupons' `coupon_issues`, `coupons`, `coupon_moves` (9) and the programs'
`program_versions` with the journal's `program_version` column (10; SQLite's steps in
`sqlite/rewards_schema.py`, docs/programs.md); the journal by request key and by tombstone (11,
docs/switch.md "Memory"); customer accounts `accounts`, `account_cards`, `account_migration`,
which take over `customers` (12, docs/customers.md, `sql/accounts_schema.py`); a card's paid
membership, `card_club.member_tier` and `member_until` (13, docs/programs.md "Paid
memberships"); the club's `customer_segments`, `club_bonuses`, `referral_codes` and `referrals`
(14, docs/customers.md "Segments", `sql/club_schema.py`); `receipt_optout`, the numbers that
get no receipt SMS (15, docs/messaging.md "Receipts", `sql/receipts_schema.py`);
`club_bonuses.unit`, points or the win-back's gift credit in rials (16, docs/customers.md "Gift
credit to the purse"); the index `lots_pan` dropped (17: `lots_live` serves a card's lots);
`journal_original` of the rows that have an original only (18).

SQLite's steps build tables with `sqlite_utils` (loose types: ids and amounts are INTEGER,
dates and times ISO 8601 TEXT). PostgreSQL's say the types: BIGINT for ids, money and points,
DATE for business days, TIMESTAMPTZ for instants, JSON for a stored reply or detail, BOOLEAN for
flags. `lot_moves` has no `rowid` of its own there: an identity column of that name keeps the
moves' insertion order, which a reversal and settlement's digest read them in. Both read and
write the same values through `switch/journal/sql` (docs/switch.md, "PostgreSQL").
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import NamedTuple

import sqlite_utils

from switch.journal.errors import JournalError
from switch.journal.sql import accounts_schema, club_schema, messaging_schema, receipts_schema
from switch.journal.sql.common import TOTALS_COLUMNS, journal_batch_totals
from switch.journal.sql.db import POSTGRES, SQLITE, Db
from switch.journal.sql.recall import TOMBSTONE_ROWS
from switch.journal.sqlite import rewards_schema


class Migration(NamedTuple):
    """One step of the schema's history: its number, what it does, and each engine's SQL."""

    number: int
    name: str
    sqlite: Callable[[sqlite_utils.Database], None]
    #: PostgreSQL's statements, run in order in the step's transaction; a function in their
    #: place runs on the step's connection (a move of rows that needs Python, as 11's).
    postgres: tuple[str | Callable[[Db], None], ...]


def _v1_sqlite(db: sqlite_utils.Database) -> None:
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


def _v2_sqlite(db: sqlite_utils.Database) -> None:
    # Returns look their original up by RRN, reversals by original_id, long after the cache.
    db.table("journal").create_index(["rrn"], index_name="journal_rrn")
    db.table("journal").create_index(["original_id"], index_name="journal_original")


def _v3_sqlite(db: sqlite_utils.Database) -> None:
    # Message security (docs/security.md): keys and PINs only as the HSM wrapped them (LMK).
    db.create_table("terminal_keys", {
        "terminal_id": str, "tmk": str, "tmk_kcv": str, "mac": str, "mac_kcv": str,
        "pin": str, "pin_kcv": str, "bdk": str, "bdk_kcv": str, "updated_at": str,
    }, pk="terminal_id")
    db.create_table("card_pins", {
        "pan": str, "pin": str, "tries": int, "updated_at": str,
    }, pk="pan", not_null={"tries"})


def _v4_sqlite(db: sqlite_utils.Database) -> None:
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


def _v5_sqlite(db: sqlite_utils.Database) -> None:
    # Numbers issued to the printer but not enrolled yet must never be issued again.
    db.create_table("issued_cards", {
        "pan": str, "file": str, "issued_at": str,
    }, pk="pan", not_null={"file", "issued_at"})


def _v6_sqlite(db: sqlite_utils.Database) -> None:
    # The verified checkpoint (switch/journal/sql/verify.py): start-up checks the rows
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


def _v7_sqlite(db: sqlite_utils.Database) -> None:
    # Each terminal batch's 0500 totals, changed in the same transaction as the journal row,
    # so that a 0500 counts the whole batch however long it stayed open (the cache only holds
    # the idempotency window). Filled from the journal for the batches already there.
    cols = ", ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in TOTALS_COLUMNS)
    db.execute(f"CREATE TABLE batch_totals (terminal_id TEXT NOT NULL, batch TEXT NOT NULL, "
               f"{cols}, PRIMARY KEY (terminal_id, batch)) WITHOUT ROWID")
    db.execute(f"INSERT INTO batch_totals SELECT * FROM ({journal_batch_totals(SQLITE)}) AS t")


# -- PostgreSQL's statements, one tuple per migration ------------------------------------------

_V1_POSTGRES = (
    "CREATE TABLE journal (id BIGINT PRIMARY KEY, at TIMESTAMPTZ NOT NULL, "
    "business_day DATE NOT NULL, kind TEXT NOT NULL, mti TEXT, pc TEXT, terminal_id TEXT, "
    "store_id TEXT, coalition_id TEXT, pan TEXT, stan TEXT, transmission TEXT, rrn TEXT, "
    "amount BIGINT NOT NULL, points BIGINT NOT NULL, sv BIGINT NOT NULL, response_code TEXT, "
    "batch TEXT, digest TEXT, original_id BIGINT, original_stan TEXT, "
    "original_transmission TEXT, response JSON, detail JSON)",
    "CREATE TABLE lots (id BIGINT PRIMARY KEY, pan TEXT NOT NULL, kind TEXT NOT NULL, "
    "store_id TEXT NOT NULL, coalition_id TEXT, earned_on DATE, expires_on DATE, "
    "initial BIGINT NOT NULL, remaining BIGINT NOT NULL, journal_id BIGINT NOT NULL)",
    "CREATE TABLE lot_moves (journal_id BIGINT NOT NULL, lot_id BIGINT NOT NULL, "
    "pan TEXT NOT NULL, kind TEXT NOT NULL, store_id TEXT NOT NULL, delta BIGINT NOT NULL, "
    "rowid BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY)",
    "CREATE TABLE cards (pan TEXT PRIMARY KEY, coalition_id TEXT NOT NULL, "
    "status TEXT NOT NULL, enrolled_on DATE NOT NULL)",
    "CREATE TABLE terminals (id TEXT PRIMARY KEY, store_id TEXT, signed_on BOOLEAN)",
    "CREATE INDEX journal_day ON journal (business_day)",
    "CREATE INDEX journal_pan ON journal (pan)",
    "CREATE INDEX lots_pan ON lots (pan)",
    "CREATE INDEX lot_moves_journal ON lot_moves (journal_id)",
)

_V2_POSTGRES = (
    "CREATE INDEX journal_rrn ON journal (rrn)",
    "CREATE INDEX journal_original ON journal (original_id)",
)

_V3_POSTGRES = (
    "CREATE TABLE terminal_keys (terminal_id TEXT PRIMARY KEY, tmk TEXT, tmk_kcv TEXT, "
    "mac TEXT, mac_kcv TEXT, pin TEXT, pin_kcv TEXT, bdk TEXT, bdk_kcv TEXT, "
    "updated_at TIMESTAMPTZ)",
    "CREATE TABLE card_pins (pan TEXT PRIMARY KEY, pin TEXT, tries INTEGER NOT NULL, "
    "updated_at TIMESTAMPTZ)",
)

_V4_POSTGRES = (
    "CREATE TABLE customers (pan TEXT PRIMARY KEY, name TEXT, phone TEXT, birth_date DATE, "
    "enrolled_at TIMESTAMPTZ)",
    "CREATE TABLE card_club (pan TEXT PRIMARY KEY, tier TEXT, tier_day DATE, "
    "earned_day DATE, earned BIGINT NOT NULL, birthday_year INTEGER NOT NULL)",
    "CREATE TABLE card_spend (pan TEXT NOT NULL, business_day DATE NOT NULL, "
    "amount BIGINT NOT NULL, PRIMARY KEY (pan, business_day))",
    "CREATE TABLE card_stamps (pan TEXT NOT NULL, store_id TEXT NOT NULL, "
    "stamps INTEGER NOT NULL, rewards INTEGER NOT NULL, PRIMARY KEY (pan, store_id))",
)

_V5_POSTGRES = (
    "CREATE TABLE issued_cards (pan TEXT PRIMARY KEY, file TEXT NOT NULL, "
    "issued_at TIMESTAMPTZ NOT NULL)",
)

_V6_POSTGRES = (
    "CREATE TABLE verified (id INTEGER PRIMARY KEY CHECK (id = 1), "
    "journal_id BIGINT NOT NULL, at TIMESTAMPTZ NOT NULL)",
    "CREATE TABLE verified_cards (pan TEXT NOT NULL, kind TEXT NOT NULL, "
    "total BIGINT NOT NULL, PRIMARY KEY (pan, kind))",
    "CREATE TABLE verified_lots (lot_id BIGINT PRIMARY KEY, pan TEXT NOT NULL, "
    "kind TEXT NOT NULL, moved BIGINT NOT NULL)",
    "CREATE INDEX lots_live ON lots (pan, kind) WHERE remaining != 0",
)

_V7_POSTGRES = (
    "CREATE TABLE batch_totals (terminal_id TEXT NOT NULL, batch TEXT NOT NULL, "
    + ", ".join(f"{c} BIGINT NOT NULL DEFAULT 0" for c in TOTALS_COLUMNS)
    + ", PRIMARY KEY (terminal_id, batch))",
    f"INSERT INTO batch_totals SELECT * FROM ({journal_batch_totals(POSTGRES)}) AS t",
)


_V9_POSTGRES = (
    "CREATE TABLE coupon_issues (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
    "coalition_id TEXT NOT NULL, issuer TEXT NOT NULL, "
    "percent INTEGER NOT NULL CHECK (percent BETWEEN 0 AND 100), "
    "amount BIGINT NOT NULL CHECK (amount >= 0), "
    "max_discount BIGINT NOT NULL CHECK (max_discount >= 0), "
    "min_amount BIGINT NOT NULL CHECK (min_amount >= 0), "
    "per_customer INTEGER NOT NULL CHECK (per_customer >= 0), segment TEXT NOT NULL, "
    "expires_on DATE NOT NULL, count INTEGER NOT NULL, file TEXT NOT NULL, "
    "issued_at TIMESTAMPTZ NOT NULL, issued_by TEXT NOT NULL)",
    "CREATE TABLE coupons (digest TEXT PRIMARY KEY, "
    "issue_id BIGINT NOT NULL REFERENCES coupon_issues (id), "
    "status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'void')), "
    "redeemed_by BIGINT, redeemed_pan TEXT)",
    "CREATE INDEX coupons_card ON coupons (redeemed_pan, issue_id) "
    "WHERE redeemed_pan IS NOT NULL",
    "CREATE INDEX coupons_issue ON coupons (issue_id)",
    "CREATE TABLE coupon_moves (journal_id BIGINT NOT NULL, digest TEXT NOT NULL, "
    "issue_id BIGINT NOT NULL, "
    "action TEXT NOT NULL CHECK (action IN ('redeem', 'release', 'void')), "
    "coalition_id TEXT NOT NULL, issuer TEXT NOT NULL, store_id TEXT NOT NULL, "
    "pan TEXT NOT NULL, discount BIGINT NOT NULL, original_id BIGINT, "
    "rowid BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY)",
    "CREATE INDEX coupon_moves_journal ON coupon_moves (journal_id)",
    "CREATE INDEX coupon_moves_digest ON coupon_moves (digest)",
)

_V10_POSTGRES = (
    "CREATE TABLE program_versions (version INTEGER PRIMARY KEY, journal_id BIGINT, "
    "at TIMESTAMPTZ NOT NULL, digest TEXT NOT NULL, file TEXT NOT NULL, document TEXT NOT NULL)",
    "ALTER TABLE journal ADD COLUMN program_version INTEGER",
)


# Requests that left the replay memory are read back by their key (docs/switch.md, "Memory"):
# DE7 first, so fresh keys (DE7 about now) share the index's last pages; and the tombstones
# (reversals answered 25) by their original's key, a small partial index. Both are built for
# the rows already there.
_REPLAY_INDEXES = (
    "CREATE INDEX journal_request ON journal (transmission, terminal_id, stan)",
    "CREATE INDEX journal_tombstone ON journal "
    f"(original_transmission, terminal_id, original_stan) WHERE {TOMBSTONE_ROWS}",
)


def _replay_indexes_sqlite(db: sqlite_utils.Database) -> None:
    for statement in _REPLAY_INDEXES:
        db.execute(statement)


# Every read of a card's lots wants its live ones, which the partial index `lots_live` (6)
# holds by (pan, kind). The index of every lot by card served no read any more and cost each
# earn one more random index leaf in its group commit (docs/switch.md, "The journal").
_DROP_LOTS_PAN = ("DROP INDEX lots_pan",)


def _drop_lots_pan_sqlite(db: sqlite_utils.Database) -> None:
    for statement in _DROP_LOTS_PAN:
        db.conn.execute(statement)


# A reversal's or a return's original is looked up by `original_id = ?` (or `IN`), which
# implies it is not NULL: the index need not hold the rows without one, most rows (19 in 20
# in the load generator's mix). Holding them, it wrote a leaf in the middle of the index (the
# NULLs' end) at every group commit.
_PARTIAL_JOURNAL_ORIGINAL = (
    "DROP INDEX journal_original",
    "CREATE INDEX journal_original ON journal (original_id) WHERE original_id IS NOT NULL",
)


def _partial_journal_original_sqlite(db: sqlite_utils.Database) -> None:
    for statement in _PARTIAL_JOURNAL_ORIGINAL:
        db.conn.execute(statement)


#: The schema's history, applied in order, each step in its own transaction. Append, never
#: edit; a step needs the SQL of both engines.
MIGRATIONS: list[Migration] = [
    Migration(1, "journal, lots, lot_moves, cards, terminals", _v1_sqlite, _V1_POSTGRES),
    Migration(2, "journal indexes by rrn and original_id", _v2_sqlite, _V2_POSTGRES),
    Migration(3, "terminal_keys and card_pins (under the HSM's LMK)", _v3_sqlite, _V3_POSTGRES),
    Migration(4, "programs: customers, card_club, card_spend, card_stamps", _v4_sqlite,
              _V4_POSTGRES),
    Migration(5, "programs: issued_cards (numbers sent to the card printer)", _v5_sqlite,
              _V5_POSTGRES),
    Migration(6, "verified checkpoint: verified, verified_cards, verified_lots; lots_live",
              _v6_sqlite, _V6_POSTGRES),
    Migration(7, "batch_totals: each terminal batch's 0500 totals", _v7_sqlite, _V7_POSTGRES),
    Migration(8, "messaging: outbox, outbox_parts, message_consent",
              messaging_schema.migrate_messaging, messaging_schema.POSTGRES_TABLES),
    Migration(9, "coupons: coupon_issues, coupons, coupon_moves", rewards_schema.coupons,
              _V9_POSTGRES),
    Migration(10, "program_versions; journal.program_version", rewards_schema.program_versions,
              _V10_POSTGRES),
    Migration(11, "journal indexes by request key and by tombstone", _replay_indexes_sqlite,
              _REPLAY_INDEXES),
    Migration(12, "customers: accounts, account_cards, account_migration (from customers)",
              accounts_schema.migrate_accounts,
              (*accounts_schema.POSTGRES_TABLES, accounts_schema.move_profiles)),
    Migration(13, "programs: card_club.member_tier, member_until (paid memberships)",
              rewards_schema.memberships,
              (*rewards_schema.MEMBERSHIP_COLUMNS,
               "ALTER TABLE card_club ADD COLUMN member_until DATE")),
    Migration(14, "club: customer_segments, club_bonuses, referral_codes, referrals",
              club_schema.migrate_club, club_schema.POSTGRES_TABLES),
    Migration(15, "messaging: receipt_optout (numbers that get no receipt SMS)",
              receipts_schema.migrate_receipt_optout, receipts_schema.POSTGRES_TABLES),
    Migration(16, "club: club_bonuses.unit (points, or gift credit in rials)",
              club_schema.bonus_unit, club_schema.BONUS_UNIT),
    Migration(17, "lots: drop lots_pan (a card's lots are read through lots_live)",
              _drop_lots_pan_sqlite, _DROP_LOTS_PAN),
    Migration(18, "journal_original of the rows with an original only",
              _partial_journal_original_sqlite, _PARTIAL_JOURNAL_ORIGINAL),
]


def refuse_newer(done: Collection[int], migrations: list[Migration], location: str) -> None:
    """`JournalError` when the database records a migration this LPS does not have: a newer
    LPS made it, and this one must not run on (or write to) a schema it does not know."""
    latest = max((m.number for m in migrations), default=0)
    found = max(done, default=0)
    if found > latest:
        raise JournalError(f"{location}: the database's schema is version {found}, made by a "
                           f"newer LPS; this LPS knows versions up to {latest} (upgrade LPS)")
