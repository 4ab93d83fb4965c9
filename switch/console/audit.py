"""The append-only audit log: who did what, when, and the state before and after.

Rows are never changed (SQLite triggers refuse UPDATE and DELETE) and each row's hash covers
the previous row's hash, so a row edited or removed behind the triggers' back (say, with the
triggers dropped) breaks the chain at that row, which `verify` names.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
EXIT_AUDIT = 5  # the change was made but could not be audited: distinct from a refusal


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: str
    actor: str
    action: str
    target: str
    before: str | None
    after: str | None
    prev_hash: str
    hash: str


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))


def row_hash(prev_hash: str, rid: int, at: str, actor: str, action: str, target: str,
             before: str | None, after: str | None) -> str:
    text = json.dumps([prev_hash, rid, at, actor, action, target, before, after],
                      separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def append(conn: sqlite3.Connection, at: str, actor: str, action: str, target: str,
           before: Any = None, after: Any = None) -> int:
    """Append one row; inside the caller's transaction when there is one (then it commits both).

    Returns the row's ID. Without an open transaction it takes the write lock itself, so two
    writers cannot both chain onto the same previous hash.
    """
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN IMMEDIATE")
    try:
        last = conn.execute(
            "SELECT id, hash FROM console_audit ORDER BY id DESC LIMIT 1").fetchone()
        rid, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        b, a = _dump(before), _dump(after)
        digest = row_hash(prev, rid, at, actor, action, target, b, a)
        conn.execute("INSERT INTO console_audit VALUES (?,?,?,?,?,?,?,?,?)",
                     (rid, at, actor, action, target, b, a, prev, digest))
        if own:
            conn.execute("COMMIT")
    except BaseException:
        if own and conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return rid


def rows(conn: sqlite3.Connection, before_id: int | None = None, limit: int = 100,
         ) -> list[AuditRow]:
    """Newest first, `limit` rows older than `before_id` (paging)."""
    bound = before_id if before_id is not None else 1 << 62
    return [AuditRow(*r) for r in conn.execute(
        "SELECT id, at, actor, action, target, before, after, prev_hash, hash FROM console_audit "
        "WHERE id < ? ORDER BY id DESC LIMIT ?", (bound, limit))]


def verify(conn: sqlite3.Connection) -> tuple[int, str | None]:
    """Recompute the chain: (rows checked, None) when intact, else the first broken row named."""
    prev, expected_id, n = GENESIS, 1, 0
    for r in conn.execute(
        "SELECT id, at, actor, action, target, before, after, prev_hash, hash FROM console_audit "
        "ORDER BY id"
    ):
        row = AuditRow(*r)
        n += 1
        if row.id != expected_id:
            return n, f"row {expected_id} is missing (next is {row.id})"
        if row.prev_hash != prev:
            return n, f"row {row.id} does not follow row {row.id - 1} (previous hash differs)"
        if row_hash(prev, row.id, row.at, row.actor, row.action, row.target, row.before,
                    row.after) != row.hash:
            return n, f"row {row.id} was altered (its hash does not match its content)"
        prev, expected_id = row.hash, row.id + 1
    return n, None


def cli_actor() -> str:
    """`cli:LOGIN` of the OS user; under sudo also who ran sudo (`cli:root (sudo by ann)`)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    sudo = os.environ.get("SUDO_USER")
    return f"cli:{user} (sudo by {sudo})" if sudo and sudo != user else f"cli:{user}"


def append_cli(db_path: str | Path, action: str, target: str, before: Any = None,
               after: Any = None) -> int:
    """Audit an `lps` command's change, which has already happened: 0, else EXIT_AUDIT.

    Opens the database with the console's migration so the table exists even where no console
    ever ran. A failure is said on stderr (the change stands; the row is missing) rather than
    raised, so the command can still print what it did before exiting non-zero.
    """
    from switch.console.db import open_db
    from switch.store import StoreError

    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    try:
        conn = open_db(db_path)
        try:
            append(conn, at, cli_actor(), action, target, before, after)
        finally:
            conn.close()
    except (sqlite3.Error, OSError, StoreError) as exc:
        print(f"lps: {action} {target} WAS DONE, but its audit row could not be written to "
              f"{db_path}: {exc}. Record it by hand; do not run the command again.",
              file=sys.stderr)
        return EXIT_AUDIT
    return 0
