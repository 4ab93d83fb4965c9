"""Sessions on the PostgreSQL journal: find the primary, commit durably, know each outcome.

The switch replies to a terminal only after its batch committed (docs/deploy.md §Durability), so
a session here guarantees three things:

- it lands on the one read-write server of a multi-host connection string
  (`host=a,b target_session_attrs=read-write`, or the same as a `postgresql://` URL) and comes
  back there by itself, with backoff, after the connection was lost;
- every transaction commits with `synchronous_commit` at least `on`, set and read back per
  session: a commit returns only once the synchronous standby has flushed it too;
- a failed transaction says which of two things happened: lost before COMMIT was sent
  (`ConnectionLost`: nothing committed, safe to run again) or lost while COMMIT was in flight
  (`CommitOutcomeUnknown`: it may be committed; the caller looks its idempotency keys up).

Errors are single lines naming the database as `postgresql://user@host:port,.../dbname`; no
password, and never the text of a connection string (libpq's parse errors quote pieces of it).

Not thread-safe: one session belongs to one writer (the journal's group commit).
"""

from __future__ import annotations

import logging
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import make_conninfo

from switch.pgconninfo import InvalidConnectionString, PgError, Target, one_line, parse_conninfo

# The errors a session raises, its own and the connection string's.
__all__ = ["Backoff", "CommitOutcomeUnknown", "Connection", "ConnectionLost", "DatabaseUnreachable",
           "DurabilityRefused", "InvalidConnectionString", "PgError", "PgSession", "ServerInfo",
           "SessionStats", "Target", "exit_code", "main"]

log = logging.getLogger("lps.pgconn")

T = TypeVar("T")
Connection = psycopg.Connection[tuple[Any, ...]]

# The levels that wait for the synchronous standby's flush (or more); `off`, `local` and
# `remote_write` could acknowledge an approval a failover then loses (docs/deploy.md §Durability).
DURABLE_LEVELS = ("on", "remote_apply")
EXIT_UNREACHABLE = 69  # sysexits.h EX_UNAVAILABLE: the database could not be reached at start
class DatabaseUnreachable(PgError):
    """No server named in the connection string accepted a read-write session."""


class DurabilityRefused(PgError):
    """The server did not keep `synchronous_commit` at the level asked for."""


class ConnectionLost(PgError):
    """The connection broke before COMMIT was sent: nothing of the transaction committed."""


class CommitOutcomeUnknown(PgError):
    """The connection broke (or the server warned) while COMMIT was in flight.

    The transaction may be committed, on the old primary and, through synchronous replication,
    on the new one. Only the data can tell: look the batch's idempotency keys up.
    """


@dataclass(frozen=True)
class Backoff:
    """Delays between reconnection attempts: doubling from `first` up to `limit`, jittered.

    Full jitter over the upper half keeps two switch nodes that lost the same primary from
    knocking on the new one in step.
    """

    first: float = 0.05
    limit: float = 2.0
    factor: float = 2.0

    def delays(self, rng: random.Random) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay * rng.uniform(0.5, 1.0)
            delay = min(delay * self.factor, self.limit)


@dataclass(frozen=True)
class ServerInfo:
    """What a session learnt about the server it landed on, for the log and the operator."""

    host: str
    port: int
    version: int
    synchronous_commit: str
    synchronous_standby_names: str

    def describe(self) -> str:
        standbys = self.synchronous_standby_names or "none: commits wait for no standby"
        return (f"{self.host}:{self.port} PostgreSQL {self.version // 10000}, "
                f"synchronous_commit={self.synchronous_commit}, "
                f"synchronous standbys: {standbys}")


@dataclass
class SessionStats:
    """Counters for the metrics endpoint: how often the database went away and came back."""

    connects: int = 0
    lost: int = 0
    failed_attempts: int = 0
    commits_unknown: int = 0


@dataclass
class PgSession:
    """One connection to the journal's primary, re-established after a loss.

    `reconnect_for` bounds how long one call waits for a primary (through a failover) before it
    raises DatabaseUnreachable; the caller holds or declines its requests meanwhile.
    """

    conninfo: str = field(repr=False)  # it may carry the password
    synchronous_commit: str = "on"
    reconnect_for: float = 30.0
    backoff: Backoff = field(default_factory=Backoff)
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], None] = time.sleep
    stats: SessionStats = field(default_factory=SessionStats)
    _params: dict[str, str] = field(init=False, repr=False)
    _target: Target = field(init=False)
    _conn: Connection | None = field(default=None, init=False, repr=False)
    _server: ServerInfo | None = field(default=None, init=False)
    _lost_at: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.synchronous_commit not in DURABLE_LEVELS:
            raise ValueError(f"synchronous_commit={self.synchronous_commit} does not wait for the "
                             f"standby; use one of {', '.join(DURABLE_LEVELS)}")
        self._params, self._target = parse_conninfo(self.conninfo)

    @property
    def target(self) -> Target:
        return self._target

    @property
    def server(self) -> ServerInfo | None:
        """The server of the current connection, None while there is none."""
        return self._server if self._conn is not None else None

    def __enter__(self) -> PgSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connecting ------------------------------------------------------------------------

    def connect(self) -> ServerInfo:
        """One pass over the hosts; DatabaseUnreachable when none gives a read-write session."""
        self._drop()
        try:
            conn: Connection = psycopg.connect(make_conninfo(**self._params))
        except psycopg.Error as exc:
            self.stats.failed_attempts += 1
            raise DatabaseUnreachable(
                f"database unreachable: {self._target}: {one_line(exc, self._secrets())}"
            ) from None
        try:
            self._server = self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self.stats.connects += 1
        return self._server

    def _secrets(self) -> tuple[str, ...]:
        return (self._params.get("password", ""),)

    def _prepare(self, conn: Connection) -> ServerInfo:
        """Set synchronous_commit for this session and read it back, with what the server is."""
        try:
            conn.execute("SELECT set_config('synchronous_commit', %s, false)",
                         (self.synchronous_commit,))
            row = conn.execute(
                "SELECT current_setting('synchronous_commit'),"
                " current_setting('synchronous_standby_names'),"
                " current_setting('server_version_num')::int").fetchone()
            conn.commit()
        except psycopg.Error as exc:
            self.stats.failed_attempts += 1
            raise DatabaseUnreachable(
                f"database unreachable: {self._target}: {one_line(exc, self._secrets())}"
            ) from None
        assert row is not None
        level, standbys, version = str(row[0]), str(row[1]), int(row[2])
        if level != self.synchronous_commit:
            raise DurabilityRefused(
                f"{self._target}: synchronous_commit is {level} after setting it to "
                f"{self.synchronous_commit} (a connection pooler in between?)")
        return ServerInfo(conn.info.host, conn.info.port, version, level, standbys)

    def ensure_connected(self) -> Connection:
        """The live connection, or a new one: attempts with backoff for `reconnect_for` s."""
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        self._drop()
        began = time.monotonic()
        attempts = 0
        for delay in self.backoff.delays(self.rng):
            attempts += 1
            try:
                server = self.connect()
            except DatabaseUnreachable:
                if time.monotonic() + delay - began > self.reconnect_for:
                    raise
                self.sleep(delay)
                continue
            if self._lost_at is not None:
                log.warning("database reconnected: %s after %d attempts, %.1f s after the loss"
                            " (%s)", self._target, attempts, time.monotonic() - self._lost_at,
                            server.describe())
            elif attempts > 1:
                log.warning("database reached: %s after %d attempts in %.1f s (%s)",
                            self._target, attempts, time.monotonic() - began, server.describe())
            self._lost_at = None
            assert self._conn is not None
            return self._conn
        raise AssertionError("Backoff.delays is endless")

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _lost(self, what: str, exc: BaseException,
              rollback: psycopg.Error | None = None) -> str:
        self.stats.lost += 1
        self._lost_at = time.monotonic()
        self._drop()
        message = f"database connection lost {what}: {self._target}: " \
                  f"{one_line(exc, self._secrets())}"
        if rollback is not None:
            message += f"; ROLLBACK failed too: {one_line(rollback, self._secrets())}"
        log.warning("%s; reconnecting", message)
        return message

    def close(self) -> None:
        self._drop()

    # -- transactions ----------------------------------------------------------------------

    def transaction(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in one transaction and commit it durably; its result once committed.

        Raises ConnectionLost (nothing committed) or CommitOutcomeUnknown (look the keys up);
        any other error of `work` or the server rolls back and propagates unchanged. An error
        after which the connection cannot even roll back is a lost connection: ConnectionLost
        from `work`, CommitOutcomeUnknown from COMMIT. `work` must not commit or roll back
        itself.
        """
        conn = self.ensure_connected()
        try:
            result = work(conn)
        except psycopg.Error as exc:
            if conn.broken or conn.closed:
                raise ConnectionLost(self._lost("before COMMIT", exc)) from None
            # psycopg can raise with the server gone and `broken` still False: a pipeline
            # (executemany) that read the server's FATAL but not yet the end of the stream
            # fails to leave pipeline mode, and the ROLLBACK cannot be sent; nothing of the
            # transaction committed, so it is a loss like any other (docs/switch.md,
            # "PostgreSQL").
            failed = self._rollback(conn)
            if failed is not None:
                raise ConnectionLost(self._lost("before COMMIT", exc, failed)) from None
            raise
        except BaseException:
            failed = self._rollback(conn)
            if failed is not None:  # counted and logged as lost; `work`'s own error goes on
                self._lost("during ROLLBACK", failed)
            raise
        warnings: list[str] = []

        def on_notice(notice: psycopg.errors.Diagnostic) -> None:
            if notice.severity_nonlocalized == "WARNING":
                warnings.append(str(notice.message_primary))

        conn.add_notice_handler(on_notice)
        try:
            conn.commit()
        except psycopg.Error as exc:
            # COMMIT was sent (or may have been): a connection that cannot roll back after it
            # is as lost as a broken one, the outcome as unknown.
            lost = conn.broken or conn.closed
            failed = None if lost else self._rollback(conn)
            if lost or failed is not None:
                self.stats.commits_unknown += 1
                raise CommitOutcomeUnknown(self._lost("during COMMIT", exc, failed)) from None
            raise
        finally:
            conn.remove_notice_handler(on_notice)
        if warnings:
            # e.g. a cancelled wait for the synchronous standby: committed here, maybe not there
            self.stats.commits_unknown += 1
            self._drop()
            raise CommitOutcomeUnknown(
                f"database warned during COMMIT: {self._target}: {'; '.join(warnings)}")
        return result

    def _rollback(self, conn: Connection) -> psycopg.Error | None:
        """Roll the transaction back; the error when the connection could not (the caller
        treats the connection as lost)."""
        try:
            conn.rollback()
        except psycopg.Error as exc:
            return exc
        return None


def main(argv: list[str] | None = None) -> int:
    """`python -m switch.pgconn CONNINFO`: check that the journal's database is reachable.

    Prints one line: where it landed and how durable commits are; or, on stderr, why not
    (exit 69 when unreachable, 2 for a bad string, 1 when durability is refused).
    """
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m switch.pgconn 'postgresql://user@host:port,host:port/db'",
              file=sys.stderr)
        return 2
    try:
        with PgSession(args[0]) as session:
            server = session.connect()
            print(f"connected: {session.target}: {server.describe()}")
    except PgError as exc:
        print(f"lps: {exc}", file=sys.stderr)
        return exit_code(exc)
    return 0


def exit_code(error: PgError) -> int:
    """The process exit code for a database error (docs/deploy.md §Connection)."""
    if isinstance(error, InvalidConnectionString):
        return 2
    if isinstance(error, DatabaseUnreachable):
        return EXIT_UNREACHABLE
    return 1


if __name__ == "__main__":
    sys.exit(main())
