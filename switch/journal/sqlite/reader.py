"""`SqliteReader`: the journal's read API on a read-only connection (`mode=ro`: it can never
take the write lock the group commit needs), for settlement, reports, the console and the
commands. Its reads are in `cards.py`, `days.py`, `figures.py` and `rewards_reads.py`."""

from __future__ import annotations

import contextlib
import functools
import inspect
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from switch.journal.errors import JournalError
from switch.journal.reports import CheckResult
from switch.journal.sqlite import verify
from switch.journal.sqlite.cards import CardReads
from switch.journal.sqlite.connect import connect, tables
from switch.journal.sqlite.days import DayReads
from switch.journal.sqlite.figures import FigureReads
from switch.journal.sqlite.rewards_reads import RewardReads

#: What makes a file an LPS journal.
_JOURNAL_TABLES = frozenset({"journal", "lots", "lot_moves", "cards"})


def _translated(read: Callable[..., Any]) -> Callable[..., Any]:
    """`read` with SQLite's errors as one-line `JournalError`s naming the database (a busy or
    damaged file), for functions and generators alike."""
    if inspect.isgeneratorfunction(read):
        @functools.wraps(read)
        def rows(self: SqliteReader, *args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from read(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise JournalError(f"{self.path}: {exc}") from exc
        return rows

    @functools.wraps(read)
    def value(self: SqliteReader, *args: Any, **kwargs: Any) -> Any:
        try:
            return read(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise JournalError(f"{self.path}: {exc}") from exc
    return value


class SqliteReader(CardReads, DayReads, FigureReads, RewardReads):
    """The journal in one SQLite file, read-only. One thread at a time."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise JournalError(f"{self.path}: no such journal database")
        conn = None
        try:
            conn = connect(self.path, readonly=True)
            self.table_names = tables(conn)
        except sqlite3.DatabaseError as exc:  # not SQLite at all
            if conn is not None:
                conn.close()
            raise JournalError(f"{self.path}: not a readable SQLite database: {exc}") from None
        self.conn = conn
        missing = _JOURNAL_TABLES - self.table_names
        if missing:
            self.conn.close()
            raise JournalError(f"{self.path}: not an LPS journal (missing tables "
                               f"{', '.join(sorted(missing))})")

    @property
    def location(self) -> str:
        return str(self.path)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction: the switch may keep writing, the block sees one state."""
        self.conn.execute("BEGIN")
        self.conn.execute("SELECT 1 FROM journal LIMIT 1").fetchall()
        try:
            yield
        finally:
            if self.conn.in_transaction:
                self.conn.execute("COMMIT")

    def check(self, *, full: bool) -> CheckResult:
        """`lps check [--full]` (read-only: the switch may be running)."""
        try:
            return verify.check(self.conn, full=full)
        except sqlite3.Error as exc:
            raise JournalError(f"{self.path}: {exc}") from exc

    def close(self) -> None:
        self.conn.close()


for _reads in (CardReads, DayReads, FigureReads, RewardReads):
    for _name, _read in vars(_reads).items():
        if inspect.isfunction(_read) and not _name.startswith("_"):
            setattr(SqliteReader, _name, _translated(_read))
