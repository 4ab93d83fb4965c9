"""`SqliteReader`: the journal's read API on a read-only connection to the SQLite file
(`mode=ro`: it can never take the write lock the group commit needs)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from switch.journal.errors import JournalError
from switch.journal.sql.reader import SqlReader
from switch.journal.sqlite.connect import connect


class SqliteReader(SqlReader):
    """The journal in one SQLite file, read-only. One thread at a time."""

    driver_errors = (sqlite3.Error,)
    conn: sqlite3.Connection

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise JournalError(f"{self.path}: no such journal database")
        try:
            conn = connect(self.path, readonly=True)
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"{self.path}: not a readable SQLite database: {exc}") from None
        self._adopt(conn, conn.close, "not a readable SQLite database")

    @property
    def location(self) -> str:
        return str(self.path)

    def close(self) -> None:
        self.conn.close()
