"""switch/pgconn.py against real servers: finding the primary, durable commits, known outcomes."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from switch.pgconn import (
    EXIT_UNREACHABLE,
    Backoff,
    CommitOutcomeUnknown,
    Connection,
    ConnectionLost,
    DatabaseUnreachable,
    InvalidConnectionString,
    PgSession,
)
from switch.pgconninfo import one_line, parse_conninfo
from tests.pg.cluster import START_DEADLINE, PgCluster
from tests.pg.fixtures import ClusterFactory
from tests.pg.standby import interrupted_commit, wait
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def insert(key: str) -> Callable[[Connection], None]:
    def work(conn: Connection) -> None:
        conn.execute("CREATE TABLE IF NOT EXISTS entries (key text PRIMARY KEY)")
        conn.execute("INSERT INTO entries VALUES (%s)", (key,))
    return work


def stored(conn: Connection) -> set[str]:
    return {str(row[0]) for row in conn.execute("SELECT key FROM entries").fetchall()}


# -- connection strings, without a server ---------------------------------------------------

def test_a_url_with_several_hosts_is_named_without_its_password() -> None:
    params, target = parse_conninfo("postgresql://lps:s3cret@db-a:5433,db-b:5434/journal")
    assert str(target) == "postgresql://lps@db-a:5433,db-b:5434/journal"
    assert params["target_session_attrs"] == "read-write"
    assert params["password"] == "s3cret"
    _params, target = parse_conninfo("host=a,b port=5432 user=lps dbname=j connect_timeout=9")
    assert str(target) == "postgresql://lps@a:5432,b:5432/j"
    assert _params["connect_timeout"] == "9"  # the operator's own settings win


@pytest.mark.parametrize("text", [
    "host=a password=s3cret junk",
    "postgresql://lps:s3cret@a/db?nonsense=1",
])
def test_a_malformed_string_is_refused_without_quoting_it(text: str) -> None:
    with pytest.raises(InvalidConnectionString) as caught:
        parse_conninfo(text)
    assert "s3cret" not in str(caught.value) and "junk" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_session_shows_no_password() -> None:
    session = PgSession("postgresql://lps:s3cret@db-a:5433,db-b:5434/journal")
    assert "s3cret" not in repr(session) and "s3cret" not in str(session.target)


@pytest.mark.parametrize("attrs", ["any", "read-only", "standby", "prefer-standby"])
def test_a_string_that_may_land_on_a_standby_is_refused(attrs: str) -> None:
    with pytest.raises(InvalidConnectionString, match="read-write or primary"):
        parse_conninfo(f"host=a,b user=lps password=s3cret target_session_attrs={attrs}")


@pytest.mark.parametrize("level", ["off", "local", "remote_write", "ON", ""])
def test_commit_levels_below_on_are_refused(level: str) -> None:
    with pytest.raises(ValueError, match="does not wait for the standby"):
        PgSession("host=a user=lps", synchronous_commit=level)


def test_backoff_doubles_to_its_limit_with_jitter() -> None:
    backoff = Backoff(first=0.1, limit=1.0)
    delays = [next(d) for d in [backoff.delays(random.Random(7))] for _ in range(8)]
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True)), delays


def test_libpq_failures_become_one_line() -> None:
    report = ('connection failed: connection to server at "10.0.0.1", port 5432 failed: '
              'Connection refused\n\tIs the server running on that host?\n'
              'Multiple connection attempts failed. All failures were:\n'
              "- host: '10.0.0.1', port: '5432', hostaddr: '10.0.0.1': connection failed: "
              'connection to server at "10.0.0.1", port 5432 failed: Connection refused\n'
              '\tIs the server running on that host?\n'
              "- host: '10.0.0.2', port: '5432', hostaddr: '10.0.0.2': connection failed: "
              'connection to server at "10.0.0.2", port 5432 failed: session is read-only')
    assert one_line(Exception(report)) == \
        "10.0.0.1:5432 Connection refused; 10.0.0.2:5432 session is read-only"


# -- one primary -----------------------------------------------------------------------------

def test_the_first_host_down_the_second_is_used(pg_primary: PgCluster, pg_database: str) -> None:
    port = pg_primary.primary.port
    dbname = parse_conninfo(pg_database)[0]["dbname"]
    down = free_port()
    for conninfo in (
        f"host=127.0.0.1,127.0.0.1 port={down},{port} dbname={dbname} user=lps "
        f"password={pg_primary.passwords['lps']}",
        f"postgresql://lps:{pg_primary.passwords['lps']}@127.0.0.1:{down},127.0.0.1:{port}/"
        f"{dbname}",
    ):
        with PgSession(conninfo) as session:
            server = session.connect()
            assert (server.host, server.port) == ("127.0.0.1", port)
            session.transaction(insert(f"via {conninfo[:4]}"))
            assert session.stats.connects == 1


def test_synchronous_commit_is_raised_to_on_whatever_the_string_says(pg_database: str) -> None:
    lowered = f"{pg_database} options='-c synchronous_commit=off'"
    with psycopg.connect(lowered) as plain:
        assert plain.execute("SHOW synchronous_commit").fetchone() == ("off",)
    for level in ("on", "remote_apply"):
        with PgSession(lowered, synchronous_commit=level) as session:
            assert session.connect().synchronous_commit == level
            shown = session.transaction(
                lambda conn: conn.execute("SHOW synchronous_commit").fetchone())
            assert shown == (level,)


def test_an_error_in_the_work_rolls_back_and_the_session_goes_on(pg_database: str) -> None:
    with PgSession(pg_database) as session:
        session.transaction(insert("once"))
        with pytest.raises(psycopg.errors.UniqueViolation):
            session.transaction(insert("once"))
        def failing(conn: Connection) -> None:
            conn.execute("INSERT INTO entries VALUES ('rolled back')")
            raise KeyError("a bug in the caller")

        with pytest.raises(KeyError):
            session.transaction(failing)
        session.transaction(insert("twice"))
        assert session.transaction(stored) == {"once", "twice"}
        assert (session.stats.connects, session.stats.lost) == (1, 0)


def test_a_lost_connection_before_commit_commits_nothing_and_reconnects(
        pg_primary: PgCluster, pg_database: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="lps.pgconn")
    with PgSession(pg_database) as session:
        session.transaction(insert("first"))

        def terminated_midway(conn: Connection) -> None:
            conn.execute("INSERT INTO entries VALUES ('lost')")
            pg_primary.primary.query("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
            conn.execute("INSERT INTO entries VALUES ('lost too')")

        with pytest.raises(ConnectionLost, match="lost before COMMIT"):
            session.transaction(terminated_midway)
        assert session.server is None
        assert session.transaction(stored) == {"first"}
        assert (session.stats.connects, session.stats.lost) == (2, 1)
    assert any("database reconnected" in r.getMessage() for r in caplog.records)
    assert pg_primary.passwords["lps"] not in caplog.text


def unread_by_the_server(port: int, client_port: int) -> int | None:
    """Bytes the server's end of a TCP connection from `client_port` has received and its
    backend not read yet (rx_queue in /proc/net/tcp, proc(5)); None without that connection."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, queues = fields[1], fields[2], fields[4]
        if (int(local.split(":")[1], 16), int(remote.split(":")[1], 16)) == (port, client_port):
            return int(queues.split(":")[1], 16)
    return None


@contextlib.contextmanager
def lost_at_the_sync(cluster: PgCluster, conn: Connection,
                     keys: list[str]) -> Iterator[Iterator[tuple[str]]]:
    """Rows for an `executemany` on `conn` (a pipeline) whose server goes away at its Sync.

    Once every row has run, the backend, waiting for the next message, is stopped (SIGSTOP)
    and told to terminate; it goes on once the pipeline's Sync has reached it, and answers the
    Sync with its FATAL. psycopg reads that before the end of the stream: `executemany` raises
    while `conn.broken` is still False. A primary that dies between a batch's statements
    (tests/pg/test_journal_failover.py) does the same by chance; this does it every time.
    """
    node = cluster.primary
    pid = conn.info.backend_pid
    with socket.socket(fileno=os.dup(conn.pgconn.socket)) as sock:
        client_port = int(sock.getsockname()[1])

    def let_go() -> None:
        try:
            wait(lambda: bool(unread_by_the_server(node.port, client_port)),
                 "the pipeline's Sync at the stopped backend")
        finally:
            os.kill(pid, signal.SIGCONT)

    releaser = threading.Thread(target=let_go)

    def rows() -> Iterator[tuple[str]]:
        yield from ((key,) for key in keys)
        # every row is sent: wait until the backend ran them all and reads again
        wait(lambda: unread_by_the_server(node.port, client_port) == 0 and node.query(
            "SELECT wait_event FROM pg_stat_activity WHERE pid = %s", (pid,)) == [("ClientRead",)],
             "the backend waiting for the pipeline's next message")
        os.kill(pid, signal.SIGSTOP)
        node.query("SELECT pg_terminate_backend(%s)", (pid,))
        releaser.start()

    try:
        yield rows()
    finally:
        if releaser.is_alive():
            releaser.join(START_DEADLINE)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def test_a_server_gone_inside_a_pipeline_is_a_lost_connection(
        pg_primary: PgCluster, pg_database: str) -> None:
    """The server gone under `executemany` leaves psycopg's pipeline busy with the connection
    not (yet) broken, and unable to send the ROLLBACK: nothing committed, so ConnectionLost
    (run it again), never the driver's error (which the journal takes for a fatal one)."""
    with PgSession(pg_database) as session:
        session.transaction(insert("first"))
        seen: list[tuple[str, bool]] = []
        with lost_at_the_sync(pg_primary, session.ensure_connected(),
                              ["lost", "lost too"]) as rows:
            def work(conn: Connection) -> None:
                try:
                    conn.cursor().executemany("INSERT INTO entries VALUES (%s)", rows)
                except psycopg.Error as exc:
                    seen.append((str(exc), conn.broken))
                    raise

            with pytest.raises(ConnectionLost, match="lost before COMMIT") as caught:
                session.transaction(work)
        # the state this test is about: psycopg's, as of 3.3 with libpq 18
        assert seen == [("cannot exit pipeline mode while busy", False)]
        assert "ROLLBACK failed too" in str(caught.value)
        assert session.server is None
        assert session.transaction(stored) == {"first"}
        assert (session.stats.connects, session.stats.lost) == (2, 1)


def swallowing(rows: Iterator[tuple[str]], then: Exception | None = None
               ) -> Callable[[Connection], None]:
    """A `work` that inserts `rows` and swallows the driver's error (a caller may), then
    raises `then`, if given."""
    def work(conn: Connection) -> None:
        with contextlib.suppress(psycopg.OperationalError):
            conn.cursor().executemany("INSERT INTO entries VALUES (%s)", rows)
        if then is not None:
            raise then
    return work


def test_a_failed_commit_that_cannot_roll_back_has_an_unknown_outcome(
        pg_primary: PgCluster, pg_database: str) -> None:
    """A COMMIT that fails on a connection that cannot roll back either may have reached the
    server: as unknown as a COMMIT lost in flight. Here the connection got so because `work`
    swallowed the error of a pipeline whose server went away (a caller may)."""
    with PgSession(pg_database) as session:
        session.transaction(insert("first"))
        with (lost_at_the_sync(pg_primary, session.ensure_connected(), ["lost"]) as rows,
              pytest.raises(CommitOutcomeUnknown, match="lost during COMMIT")):
            session.transaction(swallowing(rows))
        assert (session.stats.commits_unknown, session.stats.lost) == (1, 1)
        assert session.transaction(stored) == {"first"}


def test_an_error_of_the_caller_on_a_connection_that_cannot_roll_back_goes_on(
        pg_primary: PgCluster, pg_database: str) -> None:
    """`work`'s own error (not the driver's) is what it raises, the connection that could not
    roll back after it counted as lost and replaced."""
    with PgSession(pg_database) as session:
        session.transaction(insert("first"))
        with (lost_at_the_sync(pg_primary, session.ensure_connected(), ["lost"]) as rows,
              pytest.raises(KeyError)):
            session.transaction(swallowing(rows, then=KeyError("a bug in the caller")))
        assert session.server is None and session.stats.lost == 1
        assert session.transaction(stored) == {"first"}


def test_unreachable_at_start_is_one_line_without_the_password() -> None:
    ports = (free_port(), free_port())
    url = f"postgresql://lps:s3cret-pw@127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}/lps"
    with pytest.raises(DatabaseUnreachable) as caught:
        PgSession(url).connect()
    message = str(caught.value)
    assert message.startswith(
        f"database unreachable: postgresql://lps@127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}/lps:")
    assert "s3cret-pw" not in message and "\n" not in message
    assert f"127.0.0.1:{ports[1]} Connection refused" in message


def test_reconnecting_gives_up_after_its_deadline() -> None:
    # long enough that a loaded machine still makes a second attempt before giving up
    session = PgSession(f"host=127.0.0.1 port={free_port()} user=lps password=pw dbname=lps",
                        reconnect_for=2.0, backoff=Backoff(first=0.05, limit=0.1))
    with pytest.raises(DatabaseUnreachable):
        session.transaction(insert("never"))
    assert session.stats.failed_attempts >= 2


def run_check(conninfo: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "switch.pgconn", conninfo], cwd=ROOT,
                          capture_output=True, text=True, timeout=START_DEADLINE, check=False)


def test_the_check_command_says_one_line_and_exits_69(pg_primary: PgCluster) -> None:
    port = pg_primary.primary.port
    good = run_check(pg_primary.url())
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith(f"connected: postgresql://lps@127.0.0.1:{port}/lps: ")
    assert "synchronous_commit=on" in good.stdout
    for url, reason in (
        (f"postgresql://lps:wrong-s3cret@127.0.0.1:{port}/lps", "password authentication failed"),
        (f"postgresql://lps:s3cret@127.0.0.1:{free_port()}/lps", "Connection refused"),
    ):
        bad = run_check(url)
        assert bad.returncode == EXIT_UNREACHABLE
        assert bad.stdout == ""
        assert bad.stderr.count("\n") == 1 and reason in bad.stderr, bad.stderr
        assert "s3cret" not in bad.stderr and "Traceback" not in bad.stderr
    malformed = run_check("host=a password=s3cret junk")
    assert malformed.returncode == 2 and "s3cret" not in malformed.stderr


def test_a_restarted_server_is_found_again_with_backoff(
        pg_cluster_factory: ClusterFactory) -> None:
    with pg_cluster_factory() as cluster:
        node = cluster.primary
        session = PgSession(cluster.conninfo(node), reconnect_for=START_DEADLINE,
                            backoff=Backoff(first=0.05, limit=0.5))
        session.transaction(insert("before"))
        node.stop()
        outcome: list[object] = []

        def write() -> None:  # as the journal's writer: nothing committed, so run it again
            for _attempt in range(2):
                try:
                    outcome.append(session.transaction(insert("after")))
                    return
                except ConnectionLost:  # the shutdown ended the idle session
                    continue
                except Exception as exc:
                    outcome.append(exc)
                    return

        writer = threading.Thread(target=write)
        writer.start()
        try:
            wait(lambda: session.stats.failed_attempts >= 2, "the session knocking in vain")
            node.start()  # the same port
        finally:
            writer.join(START_DEADLINE)
        assert outcome == [None]
        assert session.transaction(stored) == {"before", "after"}
        assert (session.stats.connects, session.stats.lost) == (2, 1)
        session.close()


# -- a synchronous standby -------------------------------------------------------------------

@pytest.mark.parametrize(("interrupt", "reason"), [
    ("pg_cancel_backend", "warned during COMMIT"),
    ("pg_terminate_backend", "lost during COMMIT"),
])
def test_an_interrupted_wait_for_the_standby_is_an_unknown_outcome(
        pg_pair: PgCluster, interrupt: str, reason: str) -> None:
    """PostgreSQL has committed locally when it stops waiting: the caller must look it up."""
    key = f"held by {interrupt}"
    with PgSession(pg_pair.conninfo(pg_pair.standby, pg_pair.primary)) as session:
        session.connect()
        error = interrupted_commit(pg_pair, lambda: session.transaction(insert(key)), interrupt)
        assert isinstance(error, CommitOutcomeUnknown), error
        assert reason in str(error)
        assert session.stats.commits_unknown == 1
        assert key in session.transaction(stored)  # committed here; the lookup decides
