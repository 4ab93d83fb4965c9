"""The journal on one SQLite file (WAL, `synchronous=FULL`): `SqliteJournal` (the switch's
side), `SqliteReader` (read-only), `SqliteOutbox` (the messaging sender's)."""
