"""`SqliteJournal`: the journal in one SQLite file, WAL, `synchronous=FULL`.

One connection for writes, used by one thread (the writer's group commit), a second one for
the per-request reads on the event loop (`fetch`), and a third for WAL checkpoints and the
verified checkpoint's background verification (`checkpoint`, `verify_tail`). Read-only users
(settlement, the console, the commands) open a `SqliteReader` instead. What is the same on
every engine is `SqlJournal`'s.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from switch.core.entries import Entry
from switch.journal.batch import BatchRows, batch_rows
from switch.journal.errors import JournalError
from switch.journal.receipts import Receipt
from switch.journal.sql.db import Db
from switch.journal.sql.journal import Answered, SqlJournal
from switch.journal.sqlite.committer import CommitProcess
from switch.journal.sqlite.connect import connect
from switch.journal.sqlite.schema import migrate

T = TypeVar("T")
#: One batch as the commit process receives it: its rows, receipts and the advance it carries.
Group = tuple[BatchRows, Sequence[Receipt], "tuple[int, int] | None"]

log = logging.getLogger("lps.journal")


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
        #: Set by the background `checkpoint`: the writer checkpoints after its next commit
        #: (`catch_up_wal`). A set lost to a race with the writer costs one restart, not more.
        self._wal_catch_up = False
        #: CPU seconds the commit process spent on this journal's group commits.
        self.commit_process_cpu = 0.0
        #: The advance each batch sent to the commit process and not yet answered carries.
        self._in_flight: collections.deque[tuple[int, int] | None] = collections.deque()

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

    def wait_for_commit_process(self) -> None:
        """Return once the commit process has opened the database; `JournalError` when it
        ends or fails first (`CommitProcess.ready`). Nothing to wait for without one."""
        if self._committer is not None:
            self._committer.ready()

    def _commit_group(self, rows: BatchRows, receipts: Sequence[Receipt],
                      advance: tuple[int, int] | None) -> None:
        catch_up, self._wal_catch_up = self._wal_catch_up, False
        if self._committer is None:
            super()._commit_group(rows, receipts, advance)
            if catch_up:
                self.catch_up_wal()
            return
        self._committed(*self._committer.commit(rows, receipts, advance, catch_up))

    def _committed(self, cpu: float, advance_failed: bool) -> float:
        """The child's answer taken in: its CPU counted, a failed advance noted (the child
        logged it, as `_advance_in` logs it here). Returns the CPU."""
        self.commit_process_cpu += cpu
        if advance_failed:
            self._verify_failed = True
        return cpu

    @property
    def commits_on_loop(self) -> bool:
        """Whether `watch_commits` and `send_nowait` are the way to commit (a commit process
        runs)."""
        return self._committer is not None

    def watch_commits(self, loop: asyncio.AbstractEventLoop, on_answer: Answered) -> None:
        """From now on batches go to the commit process with `send_nowait`, and each of its
        answers reaches `on_answer` from `loop`'s reader on the pipe: (how many batches it
        committed, the oldest sent first; its CPU seconds), or the `JournalError` that ends
        the commits."""
        assert self._committer is not None

        def answered(outcome: tuple[float, bool, int] | JournalError) -> None:
            if isinstance(outcome, JournalError):
                on_answer(outcome)
                return
            cpu, advance_failed, batches = outcome
            if batches > len(self._in_flight):
                on_answer(JournalError(f"{self.path}: the commit process answered for "
                                       f"{batches} batches of {len(self._in_flight)} sent"))
                return
            done = [self._in_flight.popleft() for _ in range(batches)]
            if any(advance is not None for advance in done):
                with self._verified_lock:
                    self._applying = None
            on_answer((batches, self._committed(cpu, advance_failed)))

        self._committer.watch(loop, answered)

    def send_nowait(self, entries: Sequence[Entry], receipts: Sequence[Receipt] = ()) -> None:
        """A batch sent to the commit process, its commit not awaited (`watch_commits`).

        The checkpoint's advance waiting, if any, rides in it, and stays `_applying` (no
        other is verified) until the answer that covers it."""
        assert self._committer is not None
        rows = batch_rows(entries)
        with self._verified_lock:
            advance, self._pending = self._pending, None
            if advance is not None:
                self._applying = advance
        catch_up, self._wal_catch_up = self._wal_catch_up, False
        self._in_flight.append(advance)
        self._committer.send_nowait(rows, receipts, advance, catch_up)

    @property
    def sending(self) -> bool:
        """Whether batches sent wait for room in the commit process's pipe."""
        return self._committer is not None and self._committer.sending

    def commit_queued(self, groups: Sequence[Group]) -> None:
        """The commit process's transaction: the batches that queued while it committed the
        one before, each with its receipts and advance, in the order sent, all durable or
        none (docs/switch.md, "The commit process")."""

        def work(conn: Db) -> None:
            for rows, receipts, advance in groups:
                self._write_group(conn, rows, receipts, advance)

        self._commit_batch(groups[0][0], work)

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
        background_checkpoints(self.conn)
        self._checkpoint_conn = connect(self.path)
        self._checkpoint_conn.execute("PRAGMA wal_autocheckpoint=0")

    def checkpoint(self) -> tuple[int, int, int]:
        """PASSIVE checkpoints on its own connection (never blocking the writer) around
        `verify_tail`; SQLite's (busy, WAL frames, frames checkpointed) of the first.
        `JournalError` when one fails (the WAL only grows; commits stay durable).

        The second copies what was committed during the first and the verification's read,
        so that the writer's own, after its next commit (`catch_up_wal`), has only the last
        few milliseconds' frames left to copy while the next batch waits."""
        conn = self._checkpoint_conn
        assert conn is not None, "checkpoint_in_background() first"
        try:
            row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.verify_tail()
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            raise JournalError(f"{self.path}: WAL checkpoint failed: {exc}") from exc
        self._wal_catch_up = True
        return int(row[0]), int(row[1]), int(row[2])

    def catch_up_wal(self) -> tuple[int, int, int] | None:
        """The writer's own PASSIVE checkpoint, after a commit that followed a background one.

        SQLite starts the WAL again from its beginning only in a write transaction that finds
        it wholly copied into the database. Under a steady load some commit always lands
        while the background checkpoint runs, so it never is, and the WAL grows for as long
        as the load lasts (74 MB a second at 2,000 requests/s; docs/switch.md, "WAL
        checkpoints"). Run by the writer between two of its commits, this checkpoint copies
        the few frames committed meanwhile, and the next commit restarts the WAL, unless a
        reader still reads the WAL then (a later second tries again). Returns SQLite's
        (busy, WAL frames, frames checkpointed); None, logged, when it failed: only the WAL's
        size depends on it, never a commit.
        """
        try:
            row = self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            log.warning("event=wal_catch_up_failed database=%s error=%r", self.path, exc)
            return None
        return int(row[0]), int(row[1]), int(row[2])


#: The WAL file's size after a restart, at most (SQLite's `journal_size_limit`): above the
#: second of commits it holds between two checkpoints (80 MB at 2,000 requests/s); a reader
#: that kept the WAL from restarting (a settlement's long read) leaves a larger file behind.
WAL_SIZE_LIMIT = 256 << 20


def background_checkpoints(writer: sqlite3.Connection) -> None:
    """The writer's connection when a checkpoint thread copies the WAL: no automatic
    checkpoint inside a COMMIT, and the WAL's file trimmed when it restarts."""
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
