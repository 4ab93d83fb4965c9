"""A primary killed under a stream of commits: nothing acknowledged is lost, nothing is invented.

The stream commits small batches (three rows under one idempotency key) through one PgSession on
`host=standby,primary target_session_attrs=read-write`, as the journal's writer will. The primary
is SIGKILLed, the standby promoted with pg_ctl (standing in for Patroni, docs/deploy.md
§Failover), and the session finds it by itself. Then, on the new primary:

- every batch whose COMMIT returned is there, whole (synchronous replication);
- no batch that failed before COMMIT is there, nor any batch the stream never sent;
- a batch whose COMMIT was in flight was reported as unknown, and is there whole or not at all,
  which the idempotency key tells.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import psycopg
import pytest

from switch.pgconn import Backoff, CommitOutcomeUnknown, Connection, ConnectionLost, PgSession
from tests.pg.cluster import START_DEADLINE
from tests.pg.fixtures import ClusterFactory
from tests.pg.standby import commits_waiting_for_standby, wait

ROWS_PER_BATCH = 3


class Stream(threading.Thread):
    """Commits batch after batch until stopped, sorting each by what the session said of it."""

    def __init__(self, session: PgSession) -> None:
        super().__init__(daemon=True)
        self.session = session
        self.stopping = threading.Event()
        self.acked: list[str] = []
        self.unknown: list[str] = []
        self.lost: list[str] = []
        self.errors: list[BaseException] = []
        self.in_flight: str | None = None

    def batch(self, key: str) -> Callable[[Connection], None]:
        def work(conn: Connection) -> None:
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO entries (batch, line) VALUES (%s, %s)",
                                [(key, line) for line in range(ROWS_PER_BATCH)])
        return work

    def run(self) -> None:
        number = 0
        while not self.stopping.is_set():
            number += 1
            key = f"b{number:06d}"
            self.in_flight = key
            try:
                self.session.transaction(self.batch(key))
                self.acked.append(key)
            except CommitOutcomeUnknown:
                self.unknown.append(key)
            except ConnectionLost:
                self.lost.append(key)
            except BaseException as exc:  # anything else fails the test
                self.errors.append(exc)
                return


@pytest.mark.parametrize("commit_in_flight", [False, True],
                         ids=["killed-anywhere", "killed-during-commit"])
def test_failover_loses_no_acknowledged_commit(pg_cluster_factory: ClusterFactory,
                                               commit_in_flight: bool) -> None:
    with pg_cluster_factory(standby=True) as cluster:
        old, standby = cluster.primary, cluster.standby
        with psycopg.connect(cluster.conninfo(old), autocommit=True) as conn:
            conn.execute("CREATE TABLE entries (batch text, line int, PRIMARY KEY (batch, line))")
        session = PgSession(cluster.conninfo(standby, old), reconnect_for=START_DEADLINE,
                            backoff=Backoff(first=0.02, limit=0.5))
        stream = Stream(session)
        held: str | None = None
        stream.start()
        try:
            wait(lambda: len(stream.acked) >= 30 or bool(stream.errors), "commits on the primary")
            assert session.server is not None and session.server.port == old.port
            if commit_in_flight:
                # the standby stops acknowledging: the next COMMIT waits for it, and dies so
                standby.pause()
                wait(lambda: commits_waiting_for_standby(cluster) == 1,
                     "a COMMIT waiting for the standby")
                held = stream.in_flight
            cluster.kill_primary()
            standby.resume()
            acked_on_old = len(stream.acked)
            cluster.promote(standby)
            wait(lambda: len(stream.acked) >= acked_on_old + 30 or bool(stream.errors),
                 "commits on the new primary")
        finally:
            stream.stopping.set()
            stream.join(START_DEADLINE)
            session.close()
        assert not stream.is_alive()
        assert stream.errors == []
        assert session.stats.lost >= 1 and session.stats.connects == 2

        with psycopg.connect(cluster.conninfo(standby)) as conn:
            rows = Counter(str(batch) for (batch,) in conn.execute("SELECT batch FROM entries"))
        acked, unknown, lost = set(stream.acked), set(stream.unknown), set(stream.lost)
        assert acked.isdisjoint(unknown | lost)
        missing = sorted(key for key in acked if rows[key] != ROWS_PER_BATCH)
        assert missing == [], f"acknowledged batches lost in the failover: {missing}"
        assert sorted(key for key in lost if key in rows) == []
        assert set(rows) <= acked | unknown, "batches nobody sent"
        assert all(rows[key] in (0, ROWS_PER_BATCH) for key in unknown), "a batch half committed"
        assert len(unknown) == session.stats.commits_unknown
        if commit_in_flight:
            assert stream.unknown == [held], (stream.unknown, held)
