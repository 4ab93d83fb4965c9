"""The agent's durable outbox in SQLite: STAN counter, in-flight requests, pending reversals
and the store-and-forward queue. Every change is one transaction with synchronous=FULL, so a
kill -9 at any instant loses nothing and duplicates nothing (a resend reuses DE11 + DE7, which
the switch recognises as a retransmission)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    kind     TEXT NOT NULL CHECK (kind IN ('inflight', 'reversal', 'advice')),
    mti      TEXT NOT NULL,
    fields   TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    context  TEXT NOT NULL DEFAULT '{}'
);
"""

# Field values are str or bytes; bytes are kept as {"b": hex} in JSON.
Fields = dict[int, Any]
NewEntry = tuple[str, str, Fields, dict[str, Any]]  # kind, mti, fields, context


def _dump(fields: Fields) -> str:
    return json.dumps({str(k): ({"b": v.hex()} if isinstance(v, bytes) else v)
                       for k, v in fields.items()}, sort_keys=True)


def _load(text: str) -> Fields:
    raw = json.loads(text)
    return {int(k): (bytes.fromhex(v["b"]) if isinstance(v, dict) else v)
            for k, v in raw.items()}


@dataclass(frozen=True)
class Entry:
    id: int
    kind: str  # inflight | reversal | advice
    mti: str  # 0200, 0400 or 0220 (a resend goes out as 0401 / 0221)
    fields: Fields
    attempts: int
    context: dict[str, Any]

    @property
    def wire_mti(self) -> str:
        if self.attempts == 0:
            return self.mti
        return {"0400": "0401", "0220": "0221", "0420": "0421"}.get(self.mti, self.mti)


class Outbox:
    def __init__(self, data_dir: str | Path) -> None:
        path = Path(data_dir)
        path.mkdir(parents=True, exist_ok=True)
        self.path = path / "agent.db"
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def _tx(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def _next_stan(self) -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key='stan'").fetchone()
        stan = int(row[0]) % 999999 + 1 if row else 1
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('stan', ?)", (str(stan),))
        return f"{stan:06d}"

    def next_stan(self) -> str:
        """A STAN for a message that is not kept (0800)."""
        db = self._tx()
        try:
            stan = self._next_stan()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return stan

    def _insert(self, kind: str, mti: str, fields: Fields, context: dict[str, Any]) -> int:
        cur = self.db.execute(
            "INSERT INTO outbox(kind, mti, fields, context) VALUES(?, ?, ?, ?)",
            (kind, mti, _dump(fields), json.dumps(context)))
        return int(cur.lastrowid or 0)

    def add(self, kind: str, mti: str, fields: Fields, context: dict[str, Any]) -> Entry:
        """Store a message with a fresh STAN in DE11 (one transaction)."""
        db = self._tx()
        try:
            fields = {**fields, 11: self._next_stan()}
            row_id = self._insert(kind, mti, fields, context)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return Entry(row_id, kind, mti, fields, 0, context)

    def replace(self, old_id: int, new: list[NewEntry]) -> list[Entry]:
        """Atomically drop entry `old_id` and add `new` ones, each with a fresh STAN."""
        db = self._tx()
        out: list[Entry] = []
        try:
            db.execute("DELETE FROM outbox WHERE id=?", (old_id,))
            for kind, mti, fields, context in new:
                fields = {**fields, 11: self._next_stan()}
                out.append(Entry(self._insert(kind, mti, fields, context), kind, mti, fields, 0,
                                 context))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return out

    def remove(self, entry_id: int) -> None:
        self.db.execute("DELETE FROM outbox WHERE id=?", (entry_id,))

    def set_context(self, entry_id: int, context: dict[str, Any]) -> None:
        """Record what the agent learnt about an entry (which switches answered a reversal)."""
        self.db.execute("UPDATE outbox SET context=? WHERE id=?", (json.dumps(context), entry_id))

    def bump(self, entry_id: int) -> None:
        """Count a send; every later send of this entry is a repeat (0401/0221)."""
        self.db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id=?", (entry_id,))

    def entries(self, kind: str | None = None) -> list[Entry]:
        sql = "SELECT id, kind, mti, fields, attempts, context FROM outbox"
        args: tuple[str, ...] = ()
        if kind is not None:
            sql += " WHERE kind=?"
            args = (kind,)
        rows = self.db.execute(sql + " ORDER BY id", args).fetchall()
        return [Entry(r[0], r[1], r[2], _load(r[3]), r[4], json.loads(r[5])) for r in rows]

    def count(self, kind: str) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM outbox WHERE kind=?", (kind,))
                   .fetchone()[0])
