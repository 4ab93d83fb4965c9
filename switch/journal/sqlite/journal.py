"""`SqliteJournal`: the journal in one SQLite file, WAL, `synchronous=FULL`.

One connection for writes, used by one thread (the writer's group commit), a second one for
the per-request reads on the event loop (`fetch`), and a third for WAL checkpoints and the
verified checkpoint's background verification (`checkpoint`, `verify_tail`). Read-only users
(settlement, the console, the commands) open a `SqliteReader` instead. What is the same on
every engine is `SqlJournal`'s.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from switch.core.entries import Entry
from switch.journal.batch import BatchRows, batch_rows
from switch.journal.errors import JournalError
from switch.journal.receipts import Receipt
from switch.journal.sql.db import Db
from switch.journal.sql.journal import SqlJournal
from switch.journal.sqlite.committer import CommitProcess
from switch.journal.sqlite.connect import connect
from switch.journal.sqlite.schema import migrate

T = TypeVar("T")


class SqliteJournal(SqlJournal):
    """The journal in one SQLite file. Not thread-safe: one writer thread at a time."""

    driver_errors = (sqlite3.Error,)

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.conn = connect(self.path)
        self.version = migrate(self.conn, str(self.path))
        self._read_conn: sqlite3.Connection | None = None
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._committer: CommitProcess | None = None
        #: CPU seconds the commit process spent on this journal's group commits.
        self.commit_process_cpu = 0.0

    @property
    def location(self) -> str:
        return str(self.path)

    def close(self) -> None:
        if self._committer is not None:
            self._committer.close()
            self._committer = None
        if self._read_conn is not None:
            self._read_conn.close()
        if self._checkpoint_conn is not None:
            self._checkpoint_conn.close()
        self.conn.close()

    # -- the group commit ------------------------------------------------------------------------

    def start_commit_process(self, keep_fds: Sequence[int] = ()) -> None:
        """From now on each group commit runs in a process of its own, which holds `keep_fds`
        (the switch's lock file) open while it lives (switch/journal/sqlite/committer.py)."""
        assert self._committer is None, "one commit process"
        self._committer = CommitProcess(self.path, keep_fds)

    def _commit_group(self, rows: BatchRows, receipts: Sequence[Receipt],
                      advance: tuple[int, int] | None) -> None:
        if self._committer is None:
            super()._commit_group(rows, receipts, advance)
            return
        self._committed(*self._committer.commit(rows, receipts, advance))

    def _committed(self, cpu: float, advance_failed: bool) -> float:
        """The child's answer taken in: its CPU counted, a failed advance noted (the child
        logged it, as `_advance_in` logs it here). Returns the CPU."""
        self.commit_process_cpu += cpu
        if advance_failed:
            self._verify_failed = True
        return cpu

    @property
    def commits_on_loop(self) -> bool:
        """Whether `append_on_loop` is the way to commit (a commit process runs)."""
        return self._committer is not None

    async def append_on_loop(self, entries: Sequence[Entry],
                             receipts: Sequence[Receipt] = ()) -> float:
        """`append` from the event loop, through the commit process's pipe; the child's CPU
        seconds."""
        assert self._committer is not None
        rows = batch_rows(entries)
        with self._verified_lock:
            advance, self._pending = self._pending, None
            self._applying = advance
        try:
            answer = await self._committer.commit_on_loop(rows, receipts, advance)
        finally:
            with self._verified_lock:
                self._applying = None
        return self._committed(*answer)

    # -- the engine's connections ---------------------------------------------------------------

    def _commit_batch(self, rows: BatchRows, work: Callable[[Db], None]) -> None:
        try:
            self._write(work)
        except sqlite3.Error as exc:
            raise JournalError(f"{self.path}: commit failed: {exc}") from exc

    def _write(self, work: Callable[[Db], T]) -> T:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Db]:
        conn = connect(self.path, readonly=True)
        try:
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def _cache_reading(self) -> Iterator[Db]:
        yield self.conn  # nothing else writes: the server holds the database's lock

    def _fetch_db(self) -> Db:
        if self._read_conn is None:  # the event loop's own connection (the writer has one)
            self._read_conn = connect(self.path, readonly=True)
        return self._read_conn

    def _verify_db(self) -> Db | None:
        return self._checkpoint_conn

    def _verify_broken(self) -> None:
        conn = self._checkpoint_conn
        if conn is not None and conn.in_transaction:
            conn.execute("ROLLBACK")

    # -- WAL checkpoints ------------------------------------------------------------------------

    def checkpoint_in_background(self) -> None:
        """Take WAL checkpoints off the commit path: the caller runs `checkpoint` itself.

        SQLite's automatic checkpoint runs inside whichever COMMIT crosses 1,000 WAL pages,
        copying pages into the database and fsyncing it while every answer of that batch
        waits. Durability does not depend on it (a commit is durable once the WAL is synced).
        """
        self.conn.execute("PRAGMA wal_autocheckpoint=0")
        self._checkpoint_conn = connect(self.path)
        self._checkpoint_conn.execute("PRAGMA wal_autocheckpoint=0")

    def checkpoint(self) -> tuple[int, int, int]:
        """A PASSIVE checkpoint on its own connection (never blocks the writer): SQLite's
        (busy, WAL frames, frames checkpointed); `JournalError` when it fails (the WAL only
        grows; commits stay durable)."""
        assert self._checkpoint_conn is not None, "checkpoint_in_background() first"
        try:
            row = self._checkpoint_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            raise JournalError(f"{self.path}: WAL checkpoint failed: {exc}") from exc
        self.verify_tail()
        return int(row[0]), int(row[1]), int(row[2])
