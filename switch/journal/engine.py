"""Which engine holds the journal, from `[switch] database`: the one place an engine plugs in.

A path is an SQLite file (`switch/journal/sqlite`). A URL (`postgresql://...`) names a server
database; this version has no engine for one yet, and says so in one line rather than taking
the URL for a file name.
"""

from __future__ import annotations

from pathlib import Path

from switch.config.settings import database_path
from switch.journal.errors import JournalError
from switch.journal.protocol import Journal, JournalReader, Outbox


def sqlite_path(database: str | Path) -> Path:
    """The SQLite file `[switch] database` names; `JournalError` for a URL (one line, which
    never repeats the URL: it may hold a password)."""
    try:
        return database_path(str(database))
    except ValueError as exc:
        raise JournalError(str(exc)) from None


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
