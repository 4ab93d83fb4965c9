"""`SqliteOutbox`: the messaging tables (`switch.journal.sql.outbox`) in the switch's SQLite
file, on a read-write connection of their own."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from switch.journal.sql.outbox import SqlOutbox
from switch.journal.sqlite.connect import connect
from switch.journal.sqlite.schema import migrate


class SqliteOutbox(SqlOutbox):
    """The outbox on one connection to the switch's SQLite file. One thread at a time."""

    conn: sqlite3.Connection

    @classmethod
    def open(cls, path: str | Path) -> SqliteOutbox:
        """The switch's database, migrated (the messaging tables are migration 8)."""
        conn = connect(path)
        try:
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        return cls(conn)

    def close(self) -> None:
        self.conn.close()
