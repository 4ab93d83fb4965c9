"""`PgCustomers`: the accounts' tables (`switch.journal.sql.customers`) in the switch's
PostgreSQL database, on a read-write connection of their own."""

from __future__ import annotations

from switch.journal.postgres.connect import PgDb, open_db, target_of
from switch.journal.postgres.schema import migrate
from switch.journal.sql.customers import SqlCustomers


class PgCustomers(SqlCustomers):
    """The accounts' tables on one connection to the switch's database. One thread at a
    time."""

    conn: PgDb

    @classmethod
    def open(cls, conninfo: str) -> PgCustomers:
        """The switch's database, migrated; its location never repeats the URL (a password)."""
        db = open_db(conninfo)
        location = str(target_of(conninfo))
        try:
            migrate(db, location)
        except BaseException:
            db.close()
            raise
        return cls(db, location)

    def close(self) -> None:
        self.conn.close()
