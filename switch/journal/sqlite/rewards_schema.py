"""The SQLite tables of rewards beyond points, each migration in a function of its own
(appended to `schema.MIGRATIONS`; docs/programs.md "Coupons", "Changing programs while the
switch runs").

- `coupon_issues`: one row per `lps coupons issue` (the terms every code of it carries);
  `coupons`: one row per code, by its digest (never the code), with its state as it stands
  (void or not, the journal row that redeemed it and the card); `coupon_moves`: what each
  journal row did to a coupon (redeemed, given back, voided), append-only, what settlement
  sums and the state is replayed from.
- `program_versions`: each version of the programs (its canonical form and digest), and the
  journal's `program_version` column: the version each entry was decided under.
"""

from __future__ import annotations

import sqlite_utils

__all__ = ["coupons", "program_versions"]


def coupons(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE coupon_issues ("
        " id INTEGER PRIMARY KEY,"
        " coalition_id TEXT NOT NULL,"
        " issuer TEXT NOT NULL,"  # a store ID, '' for the coalition (its operator pays)
        " percent INTEGER NOT NULL CHECK (percent BETWEEN 0 AND 100),"
        " amount INTEGER NOT NULL CHECK (amount >= 0),"
        " max_discount INTEGER NOT NULL CHECK (max_discount >= 0),"
        " min_amount INTEGER NOT NULL CHECK (min_amount >= 0),"
        " per_customer INTEGER NOT NULL CHECK (per_customer >= 0),"
        " segment TEXT NOT NULL,"
        " expires_on TEXT NOT NULL,"
        " count INTEGER NOT NULL,"
        " file TEXT NOT NULL,"
        " issued_at TEXT NOT NULL,"
        " issued_by TEXT NOT NULL)")
    db.execute(
        "CREATE TABLE coupons ("
        " digest TEXT PRIMARY KEY,"
        " issue_id INTEGER NOT NULL REFERENCES coupon_issues (id),"
        " status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'void')),"
        " redeemed_by INTEGER,"
        " redeemed_pan TEXT) WITHOUT ROWID")
    # Per card and issue: how many of its coupons a card holds redeemed (`per_customer`).
    db.execute("CREATE INDEX coupons_card ON coupons (redeemed_pan, issue_id) "
               "WHERE redeemed_pan IS NOT NULL")
    db.execute("CREATE INDEX coupons_issue ON coupons (issue_id)")
    db.execute(
        "CREATE TABLE coupon_moves ("
        " journal_id INTEGER NOT NULL,"
        " digest TEXT NOT NULL,"
        " issue_id INTEGER NOT NULL,"
        " action TEXT NOT NULL CHECK (action IN ('redeem', 'release', 'void')),"
        " coalition_id TEXT NOT NULL,"
        " issuer TEXT NOT NULL,"
        " store_id TEXT NOT NULL,"
        " pan TEXT NOT NULL,"
        " discount INTEGER NOT NULL,"
        " original_id INTEGER)")
    db.execute("CREATE INDEX coupon_moves_journal ON coupon_moves (journal_id)")
    db.execute("CREATE INDEX coupon_moves_digest ON coupon_moves (digest)")


def program_versions(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE program_versions ("
        " version INTEGER PRIMARY KEY,"
        " journal_id INTEGER,"  # the `programs` row that loaded it (NULL: read at a start)
        " at TEXT NOT NULL,"
        " digest TEXT NOT NULL,"
        " file TEXT NOT NULL,"
        " document TEXT NOT NULL)")
    db.execute("ALTER TABLE journal ADD COLUMN program_version INTEGER")


#: The paid membership a card holds (docs/programs.md "Paid memberships"): its tier and last
#: day, beside the tier in `card_club`.
MEMBERSHIP_COLUMNS = ("ALTER TABLE card_club ADD COLUMN member_tier TEXT NOT NULL DEFAULT ''",)


def memberships(db: sqlite_utils.Database) -> None:
    for statement in MEMBERSHIP_COLUMNS:
        db.execute(statement)
    db.execute("ALTER TABLE card_club ADD COLUMN member_until TEXT")
