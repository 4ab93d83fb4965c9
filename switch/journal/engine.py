"""Which engine holds the journal, from `[switch] database`: the one place an engine plugs in.

A `postgresql://` (or `postgres://`) URL, single- or multi-host, names a PostgreSQL database
(`switch/journal/postgres`); anything else is the path of an SQLite file
(`switch/journal/sqlite`). Any other URL scheme is refused in one line that never repeats the
URL (it may hold a password).
"""

from __future__ import annotations

import re
from pathlib import Path

from switch.journal.customers import Customers
from switch.journal.errors import JournalError
from switch.journal.protocol import Journal, JournalReader, Outbox

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
POSTGRES_SCHEMES = ("postgresql", "postgres")


def postgres_conninfo(database: str | Path) -> str | None:
    """The connection string when `database` names a PostgreSQL database, else None (a path);
    `JournalError` for a URL of another scheme."""
    if isinstance(database, Path):
        return None
    found = _URL.match(database)
    if found is None:
        return None
    scheme = found.group(1).lower()
    if scheme in POSTGRES_SCHEMES:
        return database
    raise JournalError(f"a {scheme}:// URL is not a journal LPS knows; give a postgresql:// URL "
                       "or the path of an SQLite file")


def sqlite_path(database: str | Path) -> Path:
    """The SQLite file `[switch] database` names; `JournalError` for a URL (one line, which
    never repeats the URL: it may hold a password)."""
    if postgres_conninfo(database) is not None:
        raise JournalError("a postgresql:// URL names a PostgreSQL journal, not an SQLite file")
    return Path(database)


def open_journal(database: str | Path, *, shared: bool = False) -> Journal:
    """The switch's journal, read-write, migrated to the latest schema. `shared`: one of
    several switch nodes on one PostgreSQL database (docs/switch.md, "Several nodes")."""
    conninfo = postgres_conninfo(database)
    if conninfo is not None:
        from switch.journal.postgres.journal import PgJournal

        return PgJournal(conninfo, shared=shared)
    if shared:
        raise JournalError("several switch nodes need a postgresql:// journal; an SQLite "
                           "file has one writer")
    from switch.journal.sqlite.journal import SqliteJournal

    return SqliteJournal(sqlite_path(database))


def open_reader(database: str | Path) -> JournalReader:
    """The journal read-only (`JournalError` when it is missing or not a journal)."""
    conninfo = postgres_conninfo(database)
    if conninfo is not None:
        from switch.journal.postgres.reader import PgReader

        return PgReader(conninfo)
    from switch.journal.sqlite.reader import SqliteReader

    return SqliteReader(sqlite_path(database))


def open_scan_reader(database: str | Path) -> JournalReader:
    """`open_reader` for a process that opens the journal nowhere else (settlement's reader
    processes): an SQLite file is read through apsw, at less CPU a row, which must never share
    a process with another reader or writer of the file (switch/journal/sqlite/apsw_reader.py).
    """
    conninfo = postgres_conninfo(database)
    if conninfo is not None:
        return open_reader(conninfo)
    from switch.journal.sqlite.apsw_reader import ApswReader

    return ApswReader(sqlite_path(database))


def open_outbox(database: str | Path) -> Outbox:
    """The messaging tables of the switch's database, read-write, migrated."""
    conninfo = postgres_conninfo(database)
    if conninfo is not None:
        from switch.journal.postgres.outbox import PgOutbox

        return PgOutbox.open(conninfo)
    from switch.journal.sqlite.outbox import SqliteOutbox

    return SqliteOutbox.open(sqlite_path(database))


def open_customers(database: str | Path) -> Customers:
    """The customer accounts' tables of the switch's database, read-write, migrated
    (docs/customers.md)."""
    conninfo = postgres_conninfo(database)
    if conninfo is not None:
        from switch.journal.postgres.customers import PgCustomers

        return PgCustomers.open(conninfo)
    from switch.journal.sqlite.customers import SqliteCustomers

    return SqliteCustomers.open(sqlite_path(database))
