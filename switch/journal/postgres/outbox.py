"""`PgOutbox`: the messaging tables (`switch.journal.sql.outbox`) in the switch's PostgreSQL
database, on a read-write connection of their own."""

from __future__ import annotations

from switch.journal.postgres.connect import PgDb, open_db, target_of
from switch.journal.postgres.schema import migrate
from switch.journal.sql.outbox import SqlOutbox


class PgOutbox(SqlOutbox):
    """The outbox on one connection to the switch's database. One thread at a time."""

    conn: PgDb

    @classmethod
    def open(cls, conninfo: str) -> PgOutbox:
        """The switch's database, migrated (the messaging tables are migration 8)."""
        db = open_db(conninfo)
        try:
            migrate(db, str(target_of(conninfo)))
        except BaseException:
            db.close()
            raise
        return cls(db)

    def close(self) -> None:
        self.conn.close()
