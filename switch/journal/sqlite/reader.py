"""`SqliteReader`: the journal's read API on a read-only connection to the SQLite file
(`mode=ro`: it can never take the write lock the group commit needs); `FileReader`, what it
shares with `ApswReader` (switch/journal/sqlite/apsw_reader.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from switch.journal.errors import JournalError
from switch.journal.sql.reader import SqlReader
from switch.journal.sqlite.connect import connect


class FileReader(SqlReader):
    """The journal in one SQLite file, read-only, on a connection `_open` makes (a driver of
    its own per subclass). One thread at a time."""

    #: What `_open` raises when the file is not a database it can read.
    open_errors: ClassVar[tuple[type[Exception], ...]] = ()

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise JournalError(f"{self.path}: no such journal database")
        try:
            conn = self._open()
        except self.open_errors as exc:
            raise JournalError(f"{self.path}: not a readable SQLite database: {exc}") from None
        self._adopt(conn, conn.close, "not a readable SQLite database")
        self._close: Callable[[], None] = conn.close

    def _open(self) -> Any:
        """A read-only connection to `self.path` (with a `close()`)."""
        raise NotImplementedError

    @property
    def location(self) -> str:
        return str(self.path)

    def close(self) -> None:
        self._close()


class SqliteReader(FileReader):
    """The journal in one SQLite file, read-only, through the `sqlite3` module."""

    driver_errors = (sqlite3.Error,)
    open_errors = (sqlite3.DatabaseError,)
    conn: sqlite3.Connection

    def _open(self) -> sqlite3.Connection:
        return connect(self.path, readonly=True)
