"""The append-only audit log: who did what, when, and the state before and after.

It lives in the console's own database (lps/console/db.py). Rows are never changed (SQLite
triggers refuse UPDATE and DELETE) and each row's hash covers the previous row's hash, so a row
edited or removed behind the triggers' back (say, with the triggers dropped) breaks the chain at
that row, which `verify` names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lps.console.messages import N_, Refusal

GENESIS = "0" * 64
EXIT_AUDIT = 5  # the change was made but could not be audited: distinct from a refusal
COLUMNS = "id, at, actor, action, target, before, after, prev_hash, hash"


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


@dataclass(frozen=True, slots=True)
class Filter:
    """The audit page's filters; empty fields match everything (docs/console.md, "Pages")."""

    actor: str = ""
    action: str = ""
    card: str = ""  # the last four digits, or a masked number as shown
    day_from: dt.date | None = None
    day_to: dt.date | None = None  # inclusive
    zone: dt.tzinfo = dt.UTC

    def where(self) -> tuple[str, list[Any]]:
        parts, args = [], []
        if self.actor:
            parts.append("actor LIKE ? ESCAPE '\\'")
            args.append(f"%{_like(self.actor)}%")
        if self.action:
            parts.append("action LIKE ? ESCAPE '\\'")
            args.append(f"{_like(self.action)}%")
        if self.card:
            parts.append("target LIKE ? ESCAPE '\\'")
            args.append(f"card:%{_like(self.card)}")
        if self.day_from is not None:
            parts.append("at >= ?")
            args.append(_utc_start(self.day_from, self.zone))
        if self.day_to is not None:
            parts.append("at < ?")
            args.append(_utc_start(self.day_to + dt.timedelta(days=1), self.zone))
        return (" AND ".join(parts) or "1"), args


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def stamp(t: dt.datetime) -> str:
    """An instant as the log's `at` text (UTC, seconds), as every console table stores it."""
    return t.astimezone(dt.UTC).isoformat(timespec="seconds")


def _utc_start(day: dt.date, zone: dt.tzinfo) -> str:
    """The instant a local day starts, as the log's `at` text."""
    return stamp(dt.datetime.combine(day, dt.time(0), zone))


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
        last = conn.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
        rid, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        b, a = _dump(before), _dump(after)
        digest = row_hash(prev, rid, at, actor, action, target, b, a)
        conn.execute("INSERT INTO audit_log VALUES (?,?,?,?,?,?,?,?,?)",
                     (rid, at, actor, action, target, b, a, prev, digest))
        if own:
            conn.execute("COMMIT")
    except BaseException:
        if own and conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return rid


def rows(conn: sqlite3.Connection, before_id: int | None = None, limit: int = 100,
         where: Filter | None = None) -> list[AuditRow]:
    """Newest first, `limit` rows older than `before_id` (paging) that pass the filter."""
    bound = before_id if before_id is not None else 1 << 62
    clause, args = (where or Filter()).where()
    return [AuditRow(*r) for r in conn.execute(
        f"SELECT {COLUMNS} FROM audit_log WHERE id < ? AND {clause} ORDER BY id DESC LIMIT ?",
        (bound, *args, limit))]


def actions(conn: sqlite3.Connection) -> list[str]:
    """Every action name the log holds (the filter's choices)."""
    return [r[0] for r in conn.execute("SELECT DISTINCT action FROM audit_log ORDER BY 1")]


def find(conn: sqlite3.Connection, action: str, target: str) -> list[AuditRow]:
    """Every row of one action on one target, oldest first."""
    return [AuditRow(*r) for r in conn.execute(
        f"SELECT {COLUMNS} FROM audit_log WHERE action = ? AND target = ? ORDER BY id",
        (action, target))]


def verify_rows(items: Sequence[Sequence[Any]]) -> tuple[int, Refusal | None]:
    """The chain's verdict over rows in id order: (rows checked, None or the first break)."""
    prev, expected_id, n = GENESIS, 1, 0
    for r in items:
        row = AuditRow(*r)
        n += 1
        if row.id != expected_id:
            return n, Refusal(N_("row {row} is missing (next is {next})"), row=expected_id,
                              next=row.id)
        if row.prev_hash != prev:
            return n, Refusal(N_("row {row} does not follow row {previous} (previous hash "
                                 "differs)"), row=row.id, previous=row.id - 1)
        if row_hash(prev, row.id, row.at, row.actor, row.action, row.target, row.before,
                    row.after) != row.hash:
            return n, Refusal(N_("row {row} was altered (its hash does not match its "
                                 "content)"), row=row.id)
        prev, expected_id = row.hash, row.id + 1
    return n, None


def verify(conn: sqlite3.Connection) -> tuple[int, Refusal | None]:
    """Recompute the chain: (rows checked, None) when intact, else the first broken row named."""
    return verify_rows(conn.execute(f"SELECT {COLUMNS} FROM audit_log ORDER BY id").fetchall())
