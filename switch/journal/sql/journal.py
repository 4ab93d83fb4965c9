"""`SqlJournal`: the part of the switch's journal that is the same on every engine.

The group commit's transaction (`append`: every row of the batch, and the verified
checkpoint's advance in a savepoint), recovery (`load`: the cache built while another
connection checks the invariants), the per-request `fetch`, the checks and the verified
checkpoint's background work. An engine (`SqliteJournal`, `PgJournal`) says how a batch is
committed durably and where each kind of work gets its connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, ClassVar, TypeVar

from switch.core.entries import Entry
from switch.core.facts import NO_CHECKS, Checks, Facts, Needs
from switch.core.model import Lot
from switch.core.programs.club import Profile
from switch.core.rewards import CouponTerms, ProgramVersion
from switch.core.rules import RuleBook
from switch.core.state import State
from switch.journal.batch import BatchRows, batch_rows
from switch.journal.errors import JournalError, RecoveryError
from switch.journal.receipts import Receipt
from switch.journal.reports import CheckResult, RecoveryReport, Verification
from switch.journal.sql import accounts, coupons, programs, verify, versions
from switch.journal.sql.append import Columns, write_batch, written_columns
from switch.journal.sql.common import card_lots
from switch.journal.sql.db import Db
from switch.journal.sql.fetch import fetch
from switch.journal.sql.outbox import write_receipts
from switch.journal.sql.recover import load_cache, next_ids

if TYPE_CHECKING:
    from switch.config import Config

log = logging.getLogger("lps.journal")

T = TypeVar("T")
#: An answer of the commit process as the writer takes it (`watch_commits`): (batches
#: committed, its CPU seconds), or the error that ends the commits.
Answered = Callable[["tuple[int, float] | JournalError"], None]


class SqlJournal:
    """The switch's journal over SQL; an engine subclass supplies the connections.

    Checkpoint advances verified by the checkpoint thread are applied by the writer inside its
    next transaction (no second writer, no extra commit): `_pending` holds one until then.
    """

    #: The errors of the engine's driver (a failed statement, a lost connection).
    driver_errors: ClassVar[tuple[type[Exception], ...]] = ()

    def __init__(self) -> None:
        self.report = RecoveryReport()
        self._verified_lock = threading.Lock()
        self._pending: tuple[int, int] | None = None
        self._applying: tuple[int, int] | None = None
        self._verify_failed = False
        self._columns: Columns | None = None

    # -- what an engine supplies ------------------------------------------------------------

    @property
    def location(self) -> str:
        raise NotImplementedError

    def _commit_batch(self, rows: BatchRows, work: Callable[[Db], None]) -> None:
        """Run `work` in one transaction and make it durable, or raise `JournalError`."""
        raise NotImplementedError

    def _write(self, work: Callable[[Db], T]) -> T:
        """`work` in a write transaction of its own, committed before this returns."""
        raise NotImplementedError

    def _reading(self) -> contextlib.AbstractContextManager[Db]:
        """A read connection of its own for the block (another thread may use it)."""
        raise NotImplementedError

    def _cache_reading(self) -> contextlib.AbstractContextManager[Db]:
        """Where recovery reads the state it rebuilds."""
        raise NotImplementedError

    def _fetch_db(self) -> Db:
        """The event loop's read connection (`fetch`)."""
        raise NotImplementedError

    def _verify_db(self) -> Db | None:
        """The checkpoint thread's connection (None before `checkpoint_in_background`)."""
        raise NotImplementedError

    def _verify_broken(self) -> None:
        """The checkpoint thread's connection failed: drop it (the next tick opens another)."""

    def _take_writer_role(self) -> None:
        """Before recovery: this journal becomes the one writer of the database."""

    def start_commit_process(self, keep_fds: Sequence[int] = ()) -> None:
        """A serving switch's group commits in a process of their own where the engine gains
        by it (SQLite); on a server engine the database's own processes do the work."""

    def wait_for_commit_process(self) -> None:
        """Once the commit process has opened the database (none here: at once)."""

    @property
    def commits_on_loop(self) -> bool:
        return False

    def watch_commits(self, loop: asyncio.AbstractEventLoop, on_answer: Answered) -> None:
        raise NotImplementedError("no commit process: the writer thread appends")

    def send_nowait(self, entries: Sequence[Entry], receipts: Sequence[Receipt] = ()) -> None:
        raise NotImplementedError("no commit process: the writer thread appends")

    @property
    def sending(self) -> bool:
        return False

    def claim_serving(self) -> None:
        """A serving switch's claim on its database, beyond the node's lock file (none for
        an engine whose file lock already says it all)."""

    # -- writing: the group commit ------------------------------------------------------------

    def append(self, entries: Sequence[Entry], receipts: Sequence[Receipt] = ()) -> None:
        """One transaction for the whole batch: all of it is durable, or none of it (the
        receipt SMS of its transactions included, docs/messaging.md "Receipts")."""
        rows = batch_rows(entries)
        with self._verified_lock:
            advance, self._pending = self._pending, None
            self._applying = advance
        try:
            self._commit_group(rows, receipts, advance)
        finally:
            with self._verified_lock:
                self._applying = None

    def _commit_group(self, rows: BatchRows, receipts: Sequence[Receipt],
                      advance: tuple[int, int] | None) -> None:
        """The batch's rows, its receipts and the checkpoint's advance in one transaction of
        this process (`SqliteJournal` may hand them to its commit process instead)."""
        self._commit_batch(rows, lambda conn: self._write_group(conn, rows, receipts, advance))

    def _write_group(self, conn: Db, rows: BatchRows, receipts: Sequence[Receipt],
                     advance: tuple[int, int] | None) -> None:
        """One batch's writes inside the caller's transaction: its rows, its receipts, then
        the checkpoint's advance it carries."""
        self._write_rows(conn, rows)
        if receipts:
            write_receipts(conn, receipts)
        if advance is not None:
            self._advance_in(conn, *advance)

    def _write_rows(self, conn: Db, rows: BatchRows) -> None:
        """The batch's rows (`write_batch`), inside the caller's transaction."""
        if self._columns is None:
            self._columns = written_columns(conn)
        write_batch(conn, rows, self.location, self._columns)

    def _advance_in(self, conn: Db, after: int, upto: int) -> None:
        """The checkpoint's advance inside the writer's transaction, in a savepoint: an error
        there costs the advance (logged; start-up checks those rows), never the batch."""
        conn.execute("SAVEPOINT verified")
        try:
            verify.advance(conn, after, upto)
        except self.driver_errors as exc:
            conn.execute("ROLLBACK TO verified")
            self._verify_failed = True
            log.warning("event=verify_advance_failed database=%s error=%r", self.location, exc)
        conn.execute("RELEASE verified")

    # -- operator writes outside the journal rows ----------------------------------------------

    def put_profile(self, pan: str, profile: Profile) -> None:
        """A card's customer profile (`lps cards enroll --name ...`), committed at once: its
        account's (`accounts.put_card_profile`; `CustomerConflict` for a mobile number another
        account holds)."""
        now = dt.datetime.now(dt.UTC)
        self._write(lambda conn: accounts.put_card_profile(conn, pan, profile, now))

    def reserve_card_numbers(self, prefix: str, length: int,
                             choose: Callable[[set[str]], Sequence[str]], file: str,
                             at: dt.datetime) -> list[str]:
        """Card numbers for the printer, never handed out twice (`programs.reserve_numbers`)."""
        return self._write(lambda conn: self._reserve(conn, prefix, length, choose, file, at))

    def issue_coupons(self, terms: CouponTerms, digests: Sequence[str], file: str,
                      at: dt.datetime, by: str, written: Callable[[int], None]) -> int:
        """An issue of coupons and its codes' digests, in one transaction (`coupons.issue`);
        `JournalError` when a digest is taken already."""
        try:
            return self._write(lambda conn: coupons.issue(conn, terms, digests, file, at, by,
                                                          written))
        except self.driver_errors as exc:
            if not _integrity(exc):
                raise
            raise JournalError(f"{self.location}: a coupon code was drawn twice ({exc}); "
                               "nothing was issued, issue again") from None

    def program_version(self) -> ProgramVersion | None:
        """The newest version of the programs recorded (None: none yet)."""
        with self._reading() as conn:
            return versions.latest(conn)

    def record_programs(self, version: ProgramVersion, at: dt.datetime) -> None:
        """A version of the programs read from the file at a start, committed at once."""
        self._write(lambda conn: versions.record_at_start(conn, version, at.isoformat()))

    def _reserve(self, conn: Db, prefix: str, length: int,
                 choose: Callable[[set[str]], Sequence[str]], file: str,
                 at: dt.datetime) -> list[str]:
        return programs.reserve_numbers(conn, prefix, length, choose, file, at)

    # -- reading: what a decision needs ---------------------------------------------------------

    def fetch(self, needs: Needs, checks: Checks = NO_CHECKS) -> Facts:
        """The committed journal rows a decision needs (`core.needs`), with `checks`.

        Called on the event loop right before the decision; only committed rows are read, and
        `core.needs` never asks for one that is still in memory (`State.uncommitted`), so the
        two never disagree.
        """
        if not needs.journal:
            return Facts(needs, checks)
        return fetch(self._fetch_db(), needs, checks)

    def security_rows(self) -> int:
        """How many keys and PINs are stored under an LMK (a new LMK would orphan them)."""
        with self._reading() as conn:
            row = conn.execute("SELECT (SELECT COUNT(*) FROM terminal_keys) + "
                               "(SELECT COUNT(*) FROM card_pins)").fetchone()
        return int(row[0])

    def stored_tmk(self) -> tuple[str, str, str] | None:
        """One terminal's TMK under the LMK with its check value (terminal, key, KCV): what
        start-up asks the HSM to unwrap to know it has the LMK the keys were stored under."""
        with self._reading() as conn:
            row = conn.execute("SELECT terminal_id, tmk, tmk_kcv FROM terminal_keys "
                               "WHERE tmk IS NOT NULL LIMIT 1").fetchone()
        return None if row is None else (str(row[0]), str(row[1]), str(row[2] or ""))

    # -- recovery -------------------------------------------------------------------------------

    def fill(self, state: State, pan: str) -> None:
        """Read one card's lots, left in the journal by a lazy `load`, into `state`."""
        state.cards.fill(pan, *self.card_lots(pan))

    def card_lots(self, pan: str) -> tuple[list[Lot], list[Lot]]:
        """One card's committed live lots (points, stored value), read on the event loop."""
        try:
            return card_lots(self._fetch_db(), pan)
        except self.driver_errors as exc:
            raise JournalError(f"{self.location}: reading a card's lots failed: {exc}") from exc

    def load(self, config: Config, rules: RuleBook | None, now: dt.datetime, *,
             lazy: bool = False) -> State:
        """Recovery: cards, live lots (unless `lazy`), the recent transactions, then the
        invariants."""
        started = time.perf_counter()
        self._take_writer_role()
        self.report = report = RecoveryReport()
        # The invariant scan is the database's work (it releases the GIL): run it on its own
        # connection while this thread builds the cache, and open nothing before both are done.
        checked: list[Verification | BaseException] = []
        checker = threading.Thread(target=self._check_into, args=(checked,),
                                   name="lps-invariants")
        checker.start()
        # Millions of objects and no garbage: the cyclic GC would only rescan them, again and
        # again (the server tunes it for serving afterwards).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            with self._cache_reading() as conn:
                state = load_cache(conn, config, rules, now, report, lazy=lazy)
                state.next_journal_id, state.next_lot_id = next_ids(conn)
        except self.driver_errors as exc:
            raise JournalError(f"{self.location}: recovery failed: {exc}") from exc
        finally:
            if gc_was_enabled:
                gc.enable()
            checker.join()
        result = checked[0]
        if isinstance(result, BaseException):
            raise RecoveryError(f"{self.location}: invariant check failed: {result}") from result
        if result.problems:
            raise RecoveryError(f"{self.location}: invariants broken: "
                                + "; ".join(result.problems))
        if result.upto + 1 != state.next_journal_id:
            raise RecoveryError(f"{self.location}: the journal changed during recovery (rows "
                                f"up to #{result.upto} checked, #{state.next_journal_id - 1} "
                                "loaded): another writer?")
        if result.upto > result.after:  # checked: the next start-up starts from here
            try:
                self._apply_advance(result.after, result.upto)
            except self.driver_errors as exc:  # the checkpoint stays where it was: still sound
                log.warning("event=verify_advance_failed database=%s error=%r", self.location,
                            exc)
        state.durable_upto = state.next_journal_id - 1
        report.journal_entries = state.next_journal_id - 1
        report.seconds = time.perf_counter() - started
        return state

    def _check_into(self, out: list[Verification | BaseException]) -> None:
        try:
            with self._reading() as conn:
                out.append(verify.verify(conn, everything=True))
        except BaseException as exc:  # handed to the loading thread, which raises it
            out.append(exc)

    # -- the checks and the verified checkpoint -------------------------------------------------

    def check(self, *, full: bool) -> CheckResult:
        """`lps check [--full]` on a read connection of its own."""
        with self._reading() as conn:
            return verify.check(conn, full=full)

    def verify_tail(self) -> None:
        """Verify the rows committed since the checkpoint and hand the advance to the writer.

        Runs on the checkpoint thread's connection (a read snapshot; the database releases the
        GIL). A violation is logged and stops further advances, so the next start-up checks
        those rows again and refuses to open. Never raises: the checkpoints must go on.
        """
        if self._verify_failed:
            return
        with self._verified_lock:
            if self._pending is not None or self._applying is not None:
                return  # the writer has not committed the previous advance yet
        try:
            conn = self._verify_db()
            if conn is None:
                return
            v = verify.verify(conn, everything=False)
        except Exception as exc:
            self._verify_broken()
            log.warning("event=verify_failed database=%s error=%r", self.location, exc)
            return
        if v.problems:
            self._verify_failed = True
            log.error("event=invariants_broken database=%s after=%d upto=%d problems=%r",
                      self.location, v.after, v.upto, v.problems)
            return
        if v.upto > v.after:
            with self._verified_lock:
                self._pending = (v.after, v.upto)

    def verify_and_advance(self, *, everything: bool = False) -> Verification:
        """Verify the rows after the checkpoint and, when sound, move the checkpoint to the
        newest row in a transaction of its own (start-up, tools, the benchmark's generator)."""
        with self._reading() as conn:
            v = verify.verify(conn, everything=everything)
        if not v.problems and v.upto > v.after:
            self._apply_advance(v.after, v.upto)
        return v

    def verified_upto(self) -> int:
        """J: every journal row and lot move with a journal id up to it has been verified."""
        with self._reading() as conn:
            return verify.verified_upto(conn)

    def _apply_advance(self, after: int, upto: int) -> None:
        self._write(lambda conn: verify.advance(conn, after, upto))


def _integrity(exc: Exception) -> bool:
    """A unique or foreign key refused the write (sqlite3's or psycopg's IntegrityError)."""
    return type(exc).__name__ == "IntegrityError" or any(
        c.__name__ == "IntegrityError" for c in type(exc).__mro__)


@contextlib.contextmanager
def closing(conn: Db, close: Callable[[], None]) -> Iterator[Db]:
    """`conn` for the block, closed after it."""
    try:
        yield conn
    finally:
        close()
