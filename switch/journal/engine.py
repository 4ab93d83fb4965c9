"""Which engine holds the journal, from `[switch] database`: the one place an engine plugs in.

A path is an SQLite file (`switch/journal/sqlite`). A URL (`postgresql://...`) names a server
database; this version has no engine for one yet, and says so in one line rather than taking
the URL for a file name.
"""

from __future__ import annotations

import re
from pathlib import Path

from switch.journal.errors import JournalError
from switch.journal.protocol import Journal, JournalReader, Outbox

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def sqlite_path(database: str | Path) -> Path:
    """The SQLite file `[switch] database` names; `JournalError` for a URL (one line, which
    never repeats the URL: it may hold a password)."""
    text = str(database)
    found = _URL.match(text)
    if found is not None:
        scheme = found.group(1).lower()
        if scheme in ("postgresql", "postgres"):
            raise JournalError(f"a {scheme}:// URL names a PostgreSQL journal, which this "
                               "version of LPS cannot use yet; give the path of an SQLite file")
        raise JournalError(f"a {scheme}:// URL is not a journal LPS knows; give the path of "
                           "an SQLite file")
    return Path(text)


def open_journal(database: str | Path) -> Journal:
    """The switch's journal, read-write, migrated to the latest schema."""
    from switch.journal.sqlite.journal import SqliteJournal

    return SqliteJournal(sqlite_path(database))


def open_reader(database: str | Path) -> JournalReader:
    """The journal read-only (`JournalError` when it is missing or not a journal)."""
    from switch.journal.sqlite.reader import SqliteReader

    return SqliteReader(sqlite_path(database))


def open_outbox(database: str | Path) -> Outbox:
    """The messaging tables of the switch's database, read-write, migrated."""
    from switch.journal.sqlite.outbox import SqliteOutbox

    return SqliteOutbox.open(sqlite_path(database))
