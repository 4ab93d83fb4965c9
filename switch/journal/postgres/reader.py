"""`PgReader`: the journal's read API on a read-only connection to the PostgreSQL database
(`default_transaction_read_only`: it never writes; a standby serves it as well)."""

from __future__ import annotations

import psycopg

from switch.journal.postgres.connect import PgDb, open_db, target_of
from switch.journal.sql.reader import SqlReader


class PgReader(SqlReader):
    """The journal in a PostgreSQL database, read-only. One thread at a time."""

    driver_errors = (psycopg.Error,)
    conn: PgDb

    def __init__(self, conninfo: str) -> None:
        self._target = target_of(conninfo)
        conn = open_db(conninfo, readonly=True)
        self._adopt(conn, conn.close, "cannot read the database")

    @property
    def location(self) -> str:
        return str(self._target)

    def close(self) -> None:
        self.conn.close()
