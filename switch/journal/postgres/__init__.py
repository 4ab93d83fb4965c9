"""The journal on PostgreSQL 15+ (psycopg 3, `switch.pgconn` sessions): `PgJournal` (the
switch's side), `PgReader` (read-only), `PgOutbox` (the messaging sender's)."""
