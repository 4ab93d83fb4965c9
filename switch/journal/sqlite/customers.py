"""`SqliteCustomers`: the accounts' tables (`switch.journal.sql.customers`) in the switch's
SQLite file, on a read-write connection of their own."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from switch.journal.sql.customers import SqlCustomers
from switch.journal.sqlite.connect import connect
from switch.journal.sqlite.schema import migrate


class SqliteCustomers(SqlCustomers):
    """The accounts' tables on one connection to the switch's SQLite file. One thread at a
    time."""

    conn: sqlite3.Connection

    @classmethod
    def open(cls, path: str | Path) -> SqliteCustomers:
        """The switch's database, migrated (the accounts' tables are a migration of their own,
        `switch.journal.sql.accounts_schema`)."""
        conn = connect(path)
        try:
            migrate(conn, str(path))
        except BaseException:
            conn.close()
            raise
        return cls(conn, str(path))

    def close(self) -> None:
        self.conn.close()
