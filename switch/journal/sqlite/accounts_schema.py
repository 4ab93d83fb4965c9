"""The migration to customer accounts (docs/customers.md, "Tables" and "From card profiles to
accounts"): `accounts`, `account_cards` and the report of the move, `account_migration`.

Before it a profile hung off a card (`customers`, keyed by card number, migration 4). Each
profile becomes an account of its card's coalition, with the card linked to it; profiles whose
phone is one Iranian mobile number in one coalition become one account (the first enrolled
gives its values, the others fill what it lacks), and every such merge, every phone that is not
an Iranian mobile and every profile of a card that is not enrolled is written to
`account_migration`, naming the card and the account, never the personal data. Then
`customers` goes: accounts are the one place a profile lives.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from dataclasses import dataclass

import sqlite_utils

from switch.core.luhn import mask_pan
from switch.core.mobile import MobileError, normalize_mobile
from switch.core.text import TextError, normalize_text, search_key

log = logging.getLogger("lps.journal")

TABLES = (
    "CREATE TABLE accounts ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " coalition_id TEXT NOT NULL,"
    " name TEXT NOT NULL DEFAULT '',"
    " name_key TEXT NOT NULL DEFAULT '',"
    " mobile TEXT CHECK (mobile IS NULL OR (length(mobile) = 12 AND mobile GLOB '989*'"
    " AND mobile NOT GLOB '*[^0-9]*')),"
    " email TEXT,"
    " birth_date TEXT,"
    " anniversary TEXT,"
    " source TEXT NOT NULL,"
    " created_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL,"
    " erased_at TEXT,"
    " pseudonym TEXT UNIQUE)",
    "CREATE UNIQUE INDEX accounts_mobile ON accounts (coalition_id, mobile) "
    "WHERE mobile IS NOT NULL",
    "CREATE TABLE account_cards ("
    " pan TEXT PRIMARY KEY,"
    " account_id INTEGER NOT NULL REFERENCES accounts (id),"
    " virtual INTEGER NOT NULL DEFAULT 0 CHECK (virtual IN (0, 1)),"
    " linked_at TEXT NOT NULL) WITHOUT ROWID",
    "CREATE INDEX account_cards_account ON account_cards (account_id, virtual)",
    "CREATE TABLE account_migration ("
    " pan TEXT NOT NULL,"
    " account_id INTEGER NOT NULL,"
    " note TEXT NOT NULL)",
    "CREATE INDEX account_migration_account ON account_migration (account_id)",
)


@dataclass(slots=True)
class _Profile:
    pan: str
    name: str
    phone: str
    birth: str | None
    enrolled_at: str
    coalition: str


def migrate_accounts(db: sqlite_utils.Database) -> None:
    """Make the accounts' tables and move every card profile into them (one transaction, the
    migration's)."""
    conn = db.conn
    for statement in TABLES:
        conn.execute(statement)
    now = dt.datetime.now(dt.UTC).isoformat()
    profiles = [_Profile(pan, name or "", phone or "", birth or None, enrolled or now,
                         coalition or "") for pan, name, phone, birth, enrolled, coalition in
                conn.execute(
                    "SELECT p.pan, p.name, p.phone, p.birth_date, p.enrolled_at, c.coalition_id "
                    "FROM customers p LEFT JOIN cards c ON c.pan = p.pan "
                    "ORDER BY COALESCE(p.enrolled_at, ''), p.pan")]
    merged = 0
    by_mobile: dict[tuple[str, str], int] = {}
    for p in profiles:
        notes: list[str] = []
        mobile = _mobile(p, notes)
        if not p.coalition:
            notes.append("the card is not enrolled: its account belongs to no coalition")
        owner = by_mobile.get((p.coalition, mobile)) if mobile else None
        if owner is not None:
            merged += 1
            notes.append(f"same mobile as account {owner}: the card joined it")
            notes += _fill(conn, owner, p)
            account = owner
        else:
            name = _name(p.name)
            account = int(conn.execute(
                "INSERT INTO accounts (coalition_id, name, name_key, mobile, birth_date, "
                "source, created_at, updated_at) VALUES (?,?,?,?,?,'migration',?,?)",
                (p.coalition, name, search_key(name), mobile, p.birth, p.enrolled_at, now),
            ).lastrowid or 0)
            if mobile:
                by_mobile[(p.coalition, mobile)] = account
        conn.execute("INSERT INTO account_cards (pan, account_id, virtual, linked_at) "
                     "VALUES (?,?,0,?)", (p.pan, account, p.enrolled_at))
        conn.executemany("INSERT INTO account_migration (pan, account_id, note) VALUES (?,?,?)",
                         [(p.pan, account, note) for note in notes])
    conn.execute("DROP TABLE customers")
    if profiles:
        log.info("event=accounts_migrated profiles=%d accounts=%d merged=%d", len(profiles),
                 len(profiles) - merged, merged)


def _mobile(p: _Profile, notes: list[str]) -> str | None:
    if not p.phone:
        return None
    try:
        return normalize_mobile(p.phone)
    except MobileError:
        notes.append(f"the phone ({len(p.phone)} characters) is not an Iranian mobile number: "
                     "left out; add the customer's mobile with lps customers update")
        return None


def _name(name: str) -> str:
    try:
        return normalize_text(name, "name", allow_empty=True)
    except TextError:  # stored before names were checked: kept as it was
        return name


def _fill(conn: sqlite3.Connection, account: int, p: _Profile) -> list[str]:
    """Give a merged profile's values to the account where it has none; notes for what
    differs (the account's values stay)."""
    name, birth = conn.execute("SELECT name, birth_date FROM accounts WHERE id = ?",
                               (account,)).fetchone()
    notes = []
    new_name = _name(p.name)
    if new_name and not name:
        conn.execute("UPDATE accounts SET name = ?, name_key = ? WHERE id = ?",
                     (new_name, search_key(new_name), account))
    elif new_name and new_name != name:
        notes.append(f"card {mask_pan(p.pan)}'s profile had another name: the account's kept")
    if p.birth and not birth:
        conn.execute("UPDATE accounts SET birth_date = ? WHERE id = ?", (p.birth, account))
    elif p.birth and p.birth != birth:
        notes.append(f"card {mask_pan(p.pan)}'s profile had another birth date: the "
                     "account's kept")
    return notes
