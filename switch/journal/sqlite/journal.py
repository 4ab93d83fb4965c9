"""`SqliteJournal`: the journal in one SQLite file, WAL, `synchronous=FULL`.

One connection for writes, used by one thread (the writer's group commit), a second one for
the per-request reads on the event loop (`fetch`), and a third for WAL checkpoints and the
verified checkpoint's background verification (`checkpoint`, `verify_tail`). Read-only users
(settlement, the console, the commands) open a `SqliteReader` instead.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from switch.core.entries import Entry
from switch.core.facts import NO_CHECKS, Checks, Facts, Needs
from switch.core.programs.club import Profile
from switch.core.rewards import CouponTerms, ProgramVersion
from switch.core.rules import RuleBook
from switch.core.state import State
from switch.journal.batch import batch_rows
from switch.journal.errors import JournalError, RecoveryError
from switch.journal.reports import CheckResult, RecoveryReport, Verification
from switch.journal.sqlite import coupons, programs, verify, versions
from switch.journal.sqlite.append import write_batch
from switch.journal.sqlite.connect import connect
from switch.journal.sqlite.fetch import fetch
from switch.journal.sqlite.recover import load_cache, next_ids
from switch.journal.sqlite.schema import migrate

if TYPE_CHECKING:
    from switch.config import Config

log = logging.getLogger("lps.journal")


class SqliteJournal:
    """The journal in one SQLite file. Not thread-safe: one writer thread at a time."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.conn = connect(self.path)
        self.version = migrate(self.conn)
        self.report = RecoveryReport()
        self._read_conn: sqlite3.Connection | None = None
        self._checkpoint_conn: sqlite3.Connection | None = None
        # Checkpoint advances verified by the checkpoint thread, applied by the writer inside
        # its next transaction (no second writer, no extra fsync): (after, upto).
        self._verified_lock = threading.Lock()
        self._pending: tuple[int, int] | None = None
        self._applying: tuple[int, int] | None = None
        self._verify_failed = False

    @property
    def location(self) -> str:
        return str(self.path)

    def close(self) -> None:
        if self._read_conn is not None:
            self._read_conn.close()
        if self._checkpoint_conn is not None:
            self._checkpoint_conn.close()
        self.conn.close()

    # -- writing: the group commit ------------------------------------------------------------

    def append(self, entries: Sequence[Entry]) -> None:
        """One transaction for the whole batch: all of it is durable, or none of it."""
        rows = batch_rows(entries)
        conn = self.conn
        with self._verified_lock:
            advance, self._pending = self._pending, None
            self._applying = advance
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                write_batch(conn, rows, self.path)
                if advance is not None:
                    self._advance_in(conn, *advance)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise JournalError(f"{self.path}: commit failed: {exc}") from exc
        finally:
            with self._verified_lock:
                self._applying = None

    def _advance_in(self, conn: sqlite3.Connection, after: int, upto: int) -> None:
        """The checkpoint's advance inside the writer's transaction, in a savepoint: an error
        there costs the advance (logged; start-up checks those rows), never the batch."""
        conn.execute("SAVEPOINT verified")
        try:
            verify.advance(conn, after, upto)
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK TO verified")
            self._verify_failed = True
            log.warning("event=verify_advance_failed database=%s error=%r", self.path, exc)
        conn.execute("RELEASE verified")

    # -- operator writes outside the journal rows ----------------------------------------------

    def put_profile(self, pan: str, profile: Profile) -> None:
        """A card's customer profile (`lps cards enroll --name ...`), committed at once."""
        programs.put_profile(self.conn, pan, profile)

    def reserve_card_numbers(self, prefix: str, length: int,
                             choose: Callable[[set[str]], Sequence[str]], file: str,
                             at: dt.datetime) -> list[str]:
        """Card numbers for the printer, never handed out twice (`programs.reserve_numbers`)."""
        return programs.reserve_numbers(self.conn, prefix, length, choose, file, at)

    def issue_coupons(self, terms: CouponTerms, digests: Sequence[str], file: str,
                      at: dt.datetime, by: str, written: Callable[[int], None]) -> int:
        """An issue of coupons and its codes' digests, in one transaction (`coupons.issue`);
        `JournalError` when a digest is taken already."""
        try:
            return coupons.issue(self.conn, terms, digests, file, at, by, written)
        except sqlite3.IntegrityError as exc:
            raise JournalError(f"{self.path}: a coupon code was drawn twice ({exc}); nothing "
                               "was issued, issue again") from None

    def program_version(self) -> ProgramVersion | None:
        """The newest version of the programs recorded (None: none yet)."""
        return versions.latest(self.conn)

    def record_programs(self, version: ProgramVersion, at: dt.datetime) -> None:
        """A version of the programs read from the file at a start, committed at once."""
        versions.record_at_start(self.conn, version, at.isoformat())

    # -- reading: what a decision needs ---------------------------------------------------------

    def fetch(self, needs: Needs, checks: Checks = NO_CHECKS) -> Facts:
        """The committed journal rows a decision needs (`core.needs`), with `checks`.

        Called on the event loop right before the decision; only committed rows are read, and
        `core.needs` never asks for one that is still in memory (`State.uncommitted`), so the
        two never disagree.
        """
        if not needs.journal:
            return Facts(needs, checks)
        if self._read_conn is None:  # the event loop's own connection (the writer has one)
            self._read_conn = connect(self.path, readonly=True)
        return fetch(self._read_conn, needs, checks)

    def security_rows(self) -> int:
        """How many keys and PINs are stored under an LMK (a new LMK would orphan them)."""
        row = self.conn.execute(
            "SELECT (SELECT COUNT(*) FROM terminal_keys) + (SELECT COUNT(*) FROM card_pins)"
        ).fetchone()
        return int(row[0])

    def stored_tmk(self) -> tuple[str, str, str] | None:
        """One terminal's TMK under the LMK with its check value (terminal, key, KCV): what
        start-up asks the HSM to unwrap to know it has the LMK the keys were stored under."""
        row = self.conn.execute("SELECT terminal_id, tmk, tmk_kcv FROM terminal_keys "
                                "WHERE tmk IS NOT NULL LIMIT 1").fetchone()
        return None if row is None else (str(row[0]), str(row[1]), str(row[2] or ""))

    # -- recovery -------------------------------------------------------------------------------

    def load(self, config: Config, rules: RuleBook | None, now: dt.datetime) -> State:
        """Recovery: cards, live lots, the recent transactions, then the invariants."""
        started = time.perf_counter()
        self.report = report = RecoveryReport()
        # The invariant scan is SQLite work (it releases the GIL): run it on its own connection
        # while this thread builds the cache, and open nothing before both are done.
        checked: list[Verification | BaseException] = []
        checker = threading.Thread(target=self._check_into, args=(checked,),
                                   name="lps-invariants")
        checker.start()
        # Millions of objects and no garbage: the cyclic GC would only rescan them, again and
        # again (the server tunes it for serving afterwards).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            state = load_cache(self.conn, config, rules, now, report)
        finally:
            if gc_was_enabled:
                gc.enable()
        checker.join()
        result = checked[0]
        if isinstance(result, BaseException):
            raise RecoveryError(f"{self.path}: invariant check failed: {result}") from result
        if result.problems:
            raise RecoveryError(f"{self.path}: invariants broken: " + "; ".join(result.problems))
        if result.upto > result.after:  # checked: the next start-up starts from here
            try:
                self._apply_advance(result.after, result.upto)
            except sqlite3.Error as exc:  # the checkpoint stays where it was: still sound
                log.warning("event=verify_advance_failed database=%s error=%r", self.path, exc)
        state.next_journal_id, state.next_lot_id = next_ids(self.conn)
        state.durable_upto = state.next_journal_id - 1
        report.journal_entries = state.next_journal_id - 1
        report.seconds = time.perf_counter() - started
        return state

    def _check_into(self, out: list[Verification | BaseException]) -> None:
        conn = connect(self.path, readonly=True)
        try:
            out.append(verify.verify(conn, everything=True))
        except BaseException as exc:  # handed to the loading thread, which raises it
            out.append(exc)
        finally:
            conn.close()

    # -- the checks and the verified checkpoint -------------------------------------------------

    def check(self, *, full: bool) -> CheckResult:
        """`lps check [--full]` on a read-only connection of its own."""
        conn = connect(self.path, readonly=True)
        try:
            return verify.check(conn, full=full)
        finally:
            conn.close()

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

    def verify_tail(self) -> None:
        """Verify the rows committed since the checkpoint and hand the advance to the writer.

        Runs on the checkpoint thread's connection (a read snapshot; SQLite releases the GIL).
        A violation is logged and stops further advances, so the next start-up checks those
        rows again and refuses to open. Never raises: WAL checkpoints must go on.
        """
        conn = self._checkpoint_conn
        if conn is None or self._verify_failed:
            return
        with self._verified_lock:
            if self._pending is not None or self._applying is not None:
                return  # the writer has not committed the previous advance yet
        try:
            v = verify.verify(conn, everything=False)
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            log.warning("event=verify_failed database=%s error=%r", self.path, exc)
            return
        if v.problems:
            self._verify_failed = True
            log.error("event=invariants_broken database=%s after=%d upto=%d problems=%r",
                      self.path, v.after, v.upto, v.problems)
            return
        if v.upto > v.after:
            with self._verified_lock:
                self._pending = (v.after, v.upto)

    def verify_and_advance(self, *, everything: bool = False) -> Verification:
        """Verify the rows after the checkpoint and, when sound, move the checkpoint to the
        newest row in a transaction of its own (start-up, tools, the benchmark's generator)."""
        conn = connect(self.path, readonly=True)
        try:
            v = verify.verify(conn, everything=everything)
        finally:
            conn.close()
        if not v.problems and v.upto > v.after:
            self._apply_advance(v.after, v.upto)
        return v

    def verified_upto(self) -> int:
        """J: every journal row and lot move with a journal id up to it has been verified."""
        return verify.verified_upto(self.conn)

    def _apply_advance(self, after: int, upto: int) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            verify.advance(conn, after, upto)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
