"""`PgJournal`: the journal on a PostgreSQL primary with a synchronous standby.

The group commit runs on a `switch.pgconn.PgSession`: it lands on the read-write server of a
multi-host connection string, commits with `synchronous_commit` at least `on` (set and read
back per session), and comes back by itself after a loss. A batch is held, never answered,
while the primary is away (up to the session's `reconnect_for`); then (docs/switch.md,
"PostgreSQL"):

- lost before COMMIT was sent (`ConnectionLost`): nothing committed; the batch runs again on
  the primary the session finds;
- lost while COMMIT was in flight (`CommitOutcomeUnknown`): the batch's last journal id is
  looked up on the primary the session finds: there, the batch committed (one transaction:
  all of it) and its replies are released; absent, it did not, and it runs again. Running it
  again cannot write it twice: `write_batch` refuses ids that do not follow the last committed
  one.

Anything else (no primary within `reconnect_for`, a refused statement) is a `JournalError`,
and the writer stops the switch (fail-stop): no reply without a durable row.

Reads (`fetch` on the event loop, recovery, the checkpoint thread, the checks) run on
connections of their own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, TypeVar

import psycopg

from switch.core.entries import Entry
from switch.core.replay import forget_over_bound
from switch.core.rules import RuleBook
from switch.core.state import State
from switch.journal.batch import BatchRows, batch_rows
from switch.journal.errors import JournalError
from switch.journal.postgres.connect import Connection, PgDb, open_db, target_of
from switch.journal.postgres.schema import migrate
from switch.journal.reports import RecoveryReport
from switch.journal.sql.append import last_journal_id
from switch.journal.sql.db import Db
from switch.journal.sql.journal import SqlJournal
from switch.journal.sql.recover import load_cache, next_ids
from switch.pgconn import (
    CommitOutcomeUnknown,
    ConnectionLost,
    PgError,
    PgSession,
    SessionStats,
)

if TYPE_CHECKING:
    from switch.config import Config

log = logging.getLogger("lps.journal")

T = TypeVar("T")

#: How many times one batch runs after a loss before the journal gives up (fail-stop).
ATTEMPTS = 3
#: How long a write waits for a lock before it fails, set in each write transaction.
_LOCK_TIMEOUT = "SET LOCAL lock_timeout = '10s'"
#: Seconds between attempts to reopen the event loop's read connection.
FETCH_RETRY = 1.0
#: The advisory lock every write transaction of a node of several holds: the nodes take turns
#: to append (docs/switch.md, "Several nodes"). Any constant no other user of the database takes.
NODES_LOCK = 0x4C50_534E  # "LPSN"
#: Seconds a node waits for its turn before it stops (fail-stop, as for a lost database).
TURN_WAIT = 30
#: Seconds a turn may sit idle in its transaction (deciding, refreshing) before the server
#: ends it: a node that died holding its turn frees it well within the others' `TURN_WAIT`.
TURN_IDLE = 15
#: The advisory lock a serving node holds for as long as it serves, on a connection of its
#: own: exclusively as the only node, shared as one of several, so the two never mix.
SERVING_LOCK = 0x4C50_5353  # "LPSS"


class PgJournal(SqlJournal):
    """The journal in a PostgreSQL database. Not thread-safe: one writer thread at a time."""

    driver_errors = (psycopg.Error,)

    def __init__(self, conninfo: str, *, reconnect_for: float = 30.0,
                 shared: bool = False) -> None:
        super().__init__()
        #: One of several switch nodes on this database (`[switch] nodes = "shared"`).
        self.shared = shared
        self._conninfo = conninfo
        self._target = target_of(conninfo)
        try:
            self.session = PgSession(conninfo, reconnect_for=reconnect_for)
            self.server = self.session.connect()
        except PgError as exc:
            raise JournalError(str(exc)) from None
        setup = open_db(conninfo)
        try:
            self.version = migrate(setup, self.location)
        except psycopg.Error as exc:
            raise JournalError(f"{self.location}: migration failed: {exc}") from None
        finally:
            setup.close()
        self._writer: PgDb | None = None
        self._read_db: PgDb | None = None
        self._checkpoint_db: PgDb | None = None
        self._background = False
        self._fetch_retry_at = 0.0
        self._serving_db: PgDb | None = None
        self._refresh_db: PgDb | None = None

    @property
    def location(self) -> str:
        return str(self._target)

    @property
    def stats(self) -> SessionStats:
        """How often the database went away and came back (the metrics endpoint's)."""
        return self.session.stats

    def claim_serving(self) -> None:
        """Take the serving lock (exclusive for a single node, shared for a node of several);
        `JournalError` when a node of the other kind holds it. Held by a connection of its
        own: a server that restarts or fails over drops it, so it guards starts, not a
        database failover (docs/switch.md, "Several nodes")."""
        db = open_db(self._conninfo)
        take = "pg_try_advisory_lock_shared" if self.shared else "pg_try_advisory_lock"
        try:
            held = bool(db.execute(f"SELECT {take}(?)", (SERVING_LOCK,)).fetchone()[0])
        except psycopg.Error as exc:
            db.close()
            raise JournalError(f"{self.location}: {' '.join(str(exc).split())}") from None
        if not held:
            db.close()
            raise JournalError(
                f"{self.location}: " + ("a single switch node serves this database; every "
                                        "node of several needs [switch] nodes = \"shared\""
                                        if self.shared else
                                        "another switch node serves this database (several "
                                        "nodes need [switch] nodes = \"shared\" on each)"))
        self._serving_db = db

    def close(self) -> None:
        for db in (self._read_db, self._checkpoint_db, self._serving_db, self._refresh_db):
            if db is not None:
                db.close()
        self.session.close()

    # -- the group commit -------------------------------------------------------------------

    def _begun(self, conn: Connection) -> PgDb:
        """The session's connection, its transaction open with its lock timeout (psycopg
        opens one at the first statement; the journal's SQL asserts it is inside one)."""
        db = self._in_turn(conn)
        db.execute(_LOCK_TIMEOUT)
        return db

    def _in_turn(self, conn: Connection) -> PgDb:
        """The session's connection, a node of several holding its turn. A group commit sets
        its lock timeout in its pipeline (`_write_rows`): BEGIN, the timeout and the
        journal's head go to the server in one round trip."""
        if self._writer is None or self._writer.raw is not conn:
            self._writer = PgDb(conn)
        if self.shared:  # the nodes' turn to write: held until COMMIT or ROLLBACK
            self._take_turn(self._writer)
        return self._writer

    def _take_turn(self, db: PgDb) -> None:
        """Wait for the nodes' lock up to `TURN_WAIT` s; a holder that goes silent inside its
        turn (a dead machine) is ended by the server after `TURN_IDLE` s, which frees it
        (docs/switch.md, "Several nodes")."""
        db.execute(f"SET LOCAL idle_in_transaction_session_timeout = '{TURN_IDLE}s'")
        db.execute(f"SET LOCAL lock_timeout = '{TURN_WAIT}s'")
        db.execute("SELECT pg_advisory_xact_lock(?)", (NODES_LOCK,))
        db.execute(_LOCK_TIMEOUT)

    def _write_rows(self, conn: Db, rows: BatchRows) -> None:
        """The batch's rows in one pipeline: its statements go out without waiting for one
        another's results, which come back, errors included, at the pipeline's end (one
        round trip for the writes, not one a statement). Its first statement sets the lock
        timeout, so that BEGIN goes with it and with the journal's head."""
        assert isinstance(conn, PgDb)
        with conn.pipeline():
            conn.execute(_LOCK_TIMEOUT)
            super()._write_rows(conn, rows)

    def _commit_batch(self, rows: BatchRows, work: Callable[[Db], None]) -> None:
        self._commit_rows(lambda: rows, work)

    def append_decided(self, decide: Callable[[int], Sequence[Entry]]) -> None:
        """One group commit of a node of several (docs/switch.md, "Several nodes"): inside the
        transaction, holding the nodes' lock, `decide(head)` is given the last journal id any
        node committed and returns the batch's entries, decided against a state as of that
        id; they are written and committed before the lock is let go. When the transaction
        runs again after a lost connection, `decide` is asked again with the head then."""
        decided: list[BatchRows] = []
        with self._verified_lock:
            advance, self._pending = self._pending, None
            self._applying = advance

        def work(conn: Db) -> None:
            head = last_journal_id(conn)
            rows = batch_rows(decide(head))
            decided[:] = [rows]
            if rows.ids and rows.ids[0] != head + 1:
                raise JournalError(f"{self.location}: journal ids from {rows.ids[0]} do not "
                                   f"follow the head #{head} (stopping)")
            self._write_rows(conn, rows)
            if advance is not None:
                self._advance_in(conn, *advance)

        try:
            self._commit_rows(lambda: decided[0] if decided else BatchRows(), work)
        finally:
            with self._verified_lock:
                self._applying = None

    def refresh(self, config: Config, rules: RuleBook | None, now: dt.datetime,
                carry: tuple[State, int] | None = None) -> State:
        """The state read again for a node of several whose state is older than the journal's
        head: what `lps serve`'s recovery loads (the cards' heads, the requests in memory,
        programs, sign-on state; each card's lots are read when a decision first needs them,
        `fill`), without recovery's invariant scan; with `carry` (a state holding the journal
        up to that id, nothing uncommitted) its remembered requests are taken over and only
        the newer rows' added. Called while this node holds the nodes' lock, so no node
        appends meanwhile (docs/switch.md, "Several nodes")."""
        if self._refresh_db is not None and self._refresh_db.broken:
            self._refresh_db.close()
            self._refresh_db = None
        try:
            # A connection kept for refreshes: a new one per turn costs its authentication
            # (SCRAM) every contested turn.
            if self._refresh_db is None:
                self._refresh_db = open_db(self._conninfo)
            conn = self._refresh_db
            state = load_cache(conn, config, rules, now, RecoveryReport(), carry, lazy=True)
            state.next_journal_id, state.next_lot_id = next_ids(conn)
        except (JournalError, psycopg.OperationalError) as exc:
            # The database went away under the turn (its transaction with it): the turn runs
            # again once the session finds the primary, like a batch lost before COMMIT.
            if self._refresh_db is not None:
                self._refresh_db.close()
                self._refresh_db = None
            raise ConnectionLost(f"{self.location}: refresh: "
                                 f"{' '.join(str(exc).split())}") from None
        except self.driver_errors as exc:
            raise JournalError(f"{self.location}: refresh failed: {exc}") from exc
        state.durable_upto = state.next_journal_id - 1
        forget_over_bound(state)  # the carried memory plus the new rows, within its bound
        return state

    def _commit_rows(self, rows: Callable[[], BatchRows], work: Callable[[Db], None]) -> None:
        """`work` in one durable transaction, run again after a loss before COMMIT; after a
        loss during COMMIT, the batch's last id says whether it committed. `rows` gives the
        batch's rows once `work` has built them."""
        def run(conn: Connection) -> None:
            work(self._in_turn(conn))

        for attempt in range(1, ATTEMPTS + 1):
            try:
                self._in_session(run)
                return
            except ConnectionLost as exc:
                log.warning("event=batch_retry reason=connection_lost attempt=%d %s",
                            attempt, exc)
            except CommitOutcomeUnknown as exc:
                if self._committed(rows()):
                    log.warning("event=commit_resolved outcome=committed ids=%s %s",
                                _span(rows()), exc)
                    return
                log.warning("event=commit_resolved outcome=not_committed ids=%s attempt=%d",
                            _span(rows()), attempt)
        raise JournalError(f"{self.location}: commit failed: the batch {_span(rows())} did "
                           f"not commit in {ATTEMPTS} attempts")

    def _committed(self, rows: BatchRows) -> bool:
        """Whether the batch whose COMMIT outcome is unknown is in the journal of the primary
        the session now reaches (its last journal id: the batch is one transaction)."""
        if not rows.ids:
            # Nothing of money was in it: its only write was the checkpoint's advance, which
            # `verify.advance` makes only from the checkpoint it finds, so a later advance
            # neither repeats nor skips it (docs/switch.md, "PostgreSQL").
            return True
        last = rows.journal[-1]

        def look(conn: Connection) -> bool:
            found = conn.execute("SELECT kind, terminal_id, stan, transmission, digest "
                                 "FROM journal WHERE id = %s", (last[0],)).fetchone()
            # With several nodes the id may hold another node's row: the row must be ours.
            return found is not None and tuple(found) == _identity(last)

        for _ in range(ATTEMPTS):
            try:
                return self.session.transaction(look)
            except (ConnectionLost, CommitOutcomeUnknown):
                continue
            except PgError as exc:
                raise JournalError(f"{self.location}: {exc}") from None
        raise JournalError(f"{self.location}: the outcome of batch {_span(rows)} could not be "
                           "looked up")

    def _in_session(self, work: Callable[[Connection], T]) -> T:
        """`work` in one durable transaction; `JournalError` for what a retry cannot mend."""
        try:
            return self.session.transaction(work)
        except (ConnectionLost, CommitOutcomeUnknown):
            raise
        except PgError as exc:  # no primary within reconnect_for, durability refused
            raise JournalError(str(exc)) from None
        except psycopg.Error as exc:
            raise JournalError(f"{self.location}: commit failed: "
                               f"{' '.join(str(exc).split())}") from None

    def _write(self, work: Callable[[Db], T]) -> T:
        for _ in range(ATTEMPTS):
            try:
                return self._in_session(lambda conn: work(self._begun(conn)))
            except ConnectionLost:
                continue
            except CommitOutcomeUnknown as exc:  # an operator write: say so, do not guess
                raise JournalError(f"{self.location}: {exc}; check before repeating") from None
        raise JournalError(f"{self.location}: the database was lost {ATTEMPTS} times")

    # -- reading ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Db]:
        db = open_db(self._conninfo)
        try:
            yield db
        finally:
            db.close()

    def _cache_reading(self) -> contextlib.AbstractContextManager[Db]:
        return self._reading()

    def _fetch_db(self) -> Db:
        """The event loop's own connection, on the primary. After a failed attempt the next
        ones wait `FETCH_RETRY` s: a connect blocks the loop (up to `connect_timeout` per
        host), and the requests meanwhile are answered `96` at once instead."""
        if self._read_db is not None and self._read_db.broken:
            self._read_db.close()
            self._read_db = None
        if self._read_db is None:
            now = time.monotonic()
            if now < self._fetch_retry_at:
                raise JournalError(f"{self.location}: the database is being reconnected")
            try:
                self._read_db = open_db(self._conninfo)
            except JournalError:
                self._fetch_retry_at = now + FETCH_RETRY
                raise
        return self._read_db

    def _verify_db(self) -> Db | None:
        if not self._background:
            return None
        if self._checkpoint_db is None or self._checkpoint_db.broken:
            self._checkpoint_db = open_db(self._conninfo)
        return self._checkpoint_db

    def _verify_broken(self) -> None:
        db, self._checkpoint_db = self._checkpoint_db, None
        if db is not None:
            with contextlib.suppress(psycopg.Error):
                db.close()

    # -- the checkpoint thread ----------------------------------------------------------------

    def checkpoint_in_background(self) -> None:
        """The checkpoint thread verifies the newest rows (PostgreSQL checkpoints itself)."""
        self._background = True

    def checkpoint(self) -> tuple[int, int, int]:
        """The verified checkpoint's background step; PostgreSQL has no WAL file to copy back
        (the server checkpoints by itself), so the SQLite figures are zero."""
        self.verify_tail()
        return 0, 0, 0


def _identity(row: tuple[object, ...]) -> tuple[object, ...]:
    """A journal row's kind, terminal, DE11, DE7 and request digest (`batch.batch_rows`)."""
    return row[3], row[6], row[10], row[11], row[18]


def _span(rows: BatchRows) -> str:
    return f"#{rows.ids[0]}..#{rows.ids[-1]}" if rows.ids else "(no journal rows)"
