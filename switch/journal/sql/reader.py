"""`SqlReader`: the journal's read API (`JournalReader`) over one read connection, for
settlement, reports, the console and the commands, on either engine. Its reads are in
`cards.py`, `days.py`, `figures.py`, `rewards_reads.py` and `report_reads.py`; the engine's reader
(`SqliteReader`, `PgReader`) opens the connection and names the errors of its driver, which
become one-line `JournalError`s."""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from switch.journal.errors import EmptyDatabase, JournalError
from switch.journal.reports import CheckResult
from switch.journal.sql import verify
from switch.journal.sql.cards import CardReads
from switch.journal.sql.days import DayReads
from switch.journal.sql.db import Db, dialect_of, tables
from switch.journal.sql.figures import FigureReads
from switch.journal.sql.report_reads import ReportReads
from switch.journal.sql.rewards_reads import RewardReads

#: What makes a database an LPS journal.
JOURNAL_TABLES = frozenset({"journal", "lots", "lot_moves", "cards"})


def _translated(read: Callable[..., Any]) -> Callable[..., Any]:
    """`read` with the driver's errors as one-line `JournalError`s naming the database (a
    busy or damaged file, a lost server), for functions and generators alike."""
    if inspect.isgeneratorfunction(read):
        @functools.wraps(read)
        def rows(self: SqlReader, *args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from read(self, *args, **kwargs)
            except self.driver_errors as exc:
                raise self.failure(exc) from exc
        return rows

    @functools.wraps(read)
    def value(self: SqlReader, *args: Any, **kwargs: Any) -> Any:
        try:
            return read(self, *args, **kwargs)
        except self.driver_errors as exc:
            raise self.failure(exc) from exc
    return value


class SqlReader(CardReads, DayReads, FigureReads, RewardReads, ReportReads):
    """The journal read-only on one connection. One thread at a time."""

    #: The errors of the engine's driver that become `JournalError`s.
    driver_errors: ClassVar[tuple[type[Exception], ...]] = ()
    conn: Db
    table_names: set[str]

    @property
    def location(self) -> str:
        raise NotImplementedError

    def failure(self, exc: Exception) -> JournalError:
        """One line naming the database and what went wrong."""
        return JournalError(f"{self.location}: {' '.join(str(exc).split())}")

    def _adopt(self, conn: Db, close: Callable[[], None], unreadable: str) -> None:
        """Keep `conn` when its database holds the journal's tables; else close it and raise
        a one-line `JournalError` (`unreadable` says what the database failed to be)."""
        try:
            self.table_names = tables(conn)
        except self.driver_errors as exc:
            close()
            raise JournalError(f"{self.location}: {unreadable}: "
                               f"{' '.join(str(exc).split())}") from None
        self.conn = conn
        try:
            self.refuse_other_databases()
        except JournalError:
            close()
            raise

    def refuse_other_databases(self) -> None:
        """`JournalError` unless the connected database holds the journal's tables."""
        if not self.table_names:
            raise EmptyDatabase(f"{self.location}: not an LPS journal yet (the database has no "
                                "tables: start the switch once)")
        missing = JOURNAL_TABLES - self.table_names
        if missing:
            raise JournalError(f"{self.location}: not an LPS journal (missing tables "
                               f"{', '.join(sorted(missing))})")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction: the switch may keep writing, the block sees one state."""
        self.conn.execute(dialect_of(self.conn).begin_snapshot)
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
        except self.driver_errors as exc:
            raise self.failure(exc) from exc

    def close(self) -> None:
        raise NotImplementedError


for _reads in (CardReads, DayReads, FigureReads, RewardReads, ReportReads):
    for _name, _read in vars(_reads).items():
        if inspect.isfunction(_read) and not _name.startswith("_"):
            setattr(SqlReader, _name, _translated(_read))
