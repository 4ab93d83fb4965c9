"""The switch's journal through a database failover: the primary SIGKILLed under a stream of
group commits, the synchronous standby promoted with pg_ctl (standing in for Patroni,
docs/deploy.md §Failover); `PgJournal` finds the new primary through the multi-host URL and
goes on (docs/switch.md, "PostgreSQL").

The stream runs as the switch's writer does: requests decided by the core, each batch appended,
and a reply counted as seen by the terminal only once `append` returned. Then, on the new
primary: every approval a terminal saw is in the journal, no row is there that no terminal
saw, and every card's points are what the seen replies add up to.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import psycopg
import pytest
from prometheus_client import generate_latest

from switch.core import handle, journaled
from switch.core.luhn import luhn_complete
from switch.journal.postgres.journal import PgJournal
from switch.metrics import Metrics
from switch.pgconn import Backoff
from tests.pg.cluster import APP_USER, START_DEADLINE, PgCluster
from tests.pg.fixtures import ClusterFactory, fresh_database
from tests.pg.standby import commits_waiting_for_standby, interrupted_commit, wait
from tests.switch.support import NOW, T1, earn, example_config, sign_on

REQUESTS_PER_BATCH = 3
CARDS = [luhn_complete(f"628000{n:09d}") for n in range(1, 8)]


def multi_host_url(cluster: PgCluster, dbname: str) -> str:
    """`[switch] database` naming both servers; the session keeps to the writable one."""
    hosts = ",".join(f"127.0.0.1:{node.port}" for node in reversed(cluster.nodes))
    return f"postgresql://{APP_USER}:{cluster.passwords[APP_USER]}@{hosts}/{dbname}"


class Terminal(threading.Thread):
    """Earns in batches through the core and the journal until stopped; what it saw."""

    def __init__(self, journal: PgJournal) -> None:
        super().__init__(daemon=True)
        self.journal = journal
        self.state = journal.load(example_config(), None, NOW)
        self.stopping = threading.Event()
        self.seen: dict[int, tuple[str, int]] = {}  # journal id -> (card, points) of approvals
        self.seen_ids: set[int] = set()
        self.acked_at: list[float] = []
        self.errors: list[BaseException] = []
        self.stan = 0

    def decide(self, msg: object) -> list:  # type: ignore[type-arg]
        decision = handle(self.state, msg, NOW, fetch=self.journal.fetch)  # type: ignore[arg-type]
        return list(decision.entries)

    def run(self) -> None:
        try:
            entries = self.decide(sign_on(T1))
            self.journal.append(entries)
            journaled(self.state, entries)
            self.seen_ids.update(e.id for e in entries)
            while not self.stopping.is_set():
                batch = []
                for _ in range(REQUESTS_PER_BATCH):
                    self.stan += 1
                    pan = CARDS[self.stan % len(CARDS)]
                    batch.extend(self.decide(earn(T1, self.stan, pan, 10_000 + self.stan)))
                self.journal.append(batch)  # held while the primary is away
                journaled(self.state, batch)
                self.acked_at.append(time.monotonic())
                for e in batch:
                    self.seen_ids.add(e.id)
                    if e.response_code == "00" and e.points:
                        self.seen[e.id] = (e.pan, e.points)
        except BaseException as exc:  # fails the test
            self.errors.append(exc)


@pytest.mark.parametrize("commit_in_flight", [False, True],
                         ids=["killed-anywhere", "killed-during-commit"])
def test_the_journal_survives_a_failover_losing_no_approval_and_inventing_no_point(
        pg_cluster_factory: ClusterFactory, commit_in_flight: bool) -> None:
    with pg_cluster_factory(standby=True) as cluster, fresh_database(cluster) as dbname:
        standby = cluster.standby
        journal = PgJournal(multi_host_url(cluster, dbname), reconnect_for=START_DEADLINE)
        journal.session.backoff = Backoff(first=0.02, limit=0.5)
        terminal = Terminal(journal)
        terminal.start()
        try:
            wait(lambda: len(terminal.acked_at) >= 20 or bool(terminal.errors),
                 "batches on the primary")
            assert terminal.errors == []
            if commit_in_flight:  # the standby stops acknowledging: a COMMIT waits, and dies so
                standby.pause()
                wait(lambda: commits_waiting_for_standby(cluster) == 1,
                     "a COMMIT waiting for the standby")
            killed = time.monotonic()
            cluster.kill_primary()
            standby.resume()
            acked_on_old = len(terminal.acked_at)
            cluster.promote(standby)
            wait(lambda: len(terminal.acked_at) >= acked_on_old + 20 or bool(terminal.errors),
                 "batches on the new primary")
        finally:
            terminal.stopping.set()
            terminal.join(START_DEADLINE)
        assert not terminal.is_alive()
        assert terminal.errors == []
        first_after = min(t for t in terminal.acked_at if t > killed)
        print(f"failover: first commit on the new primary {first_after - killed:.2f} s after "
              "the SIGKILL")
        assert journal.stats.lost >= 1
        metrics = Metrics()
        metrics.bind_database(journal.stats)
        scraped = generate_latest(metrics.registry).decode()
        assert f"lps_database_lost_total {float(journal.stats.lost)}" in scraped
        assert f"lps_database_connects_total {float(journal.stats.connects)}" in scraped
        if commit_in_flight:
            assert journal.stats.commits_unknown >= 1
        server = journal.session.server
        assert server is not None and server.port == standby.port
        journal.close()

        with psycopg.connect(cluster.conninfo(standby, dbname=dbname)) as conn:
            ids = {int(r[0]) for r in conn.execute("SELECT id FROM journal")}
            points = {str(pan): int(total) for pan, total in conn.execute(
                "SELECT pan, SUM(remaining) FROM lots WHERE kind = 'points' GROUP BY pan")}
        assert ids == terminal.seen_ids, "rows no terminal saw, or seen replies lost"
        expected = Counter[str]()
        for pan, pts in terminal.seen.values():
            expected[pan] += pts
        assert points == dict(expected)
        assert sum(expected.values()) > 0

        again = PgJournal(multi_host_url(cluster, dbname))
        try:
            assert again.check(full=True).problems == []
        finally:
            again.close()


def test_a_lost_commit_of_a_batch_without_journal_rows_counts_as_done(
        pg_pair: PgCluster) -> None:
    """docs/switch.md, "PostgreSQL": a batch whose requests left no journal row may still
    carry the checkpoint's advance; its COMMIT lost in flight has nothing of money to look up,
    so the writer goes on (it used to stop the switch), and the advance is made again."""
    with fresh_database(pg_pair) as dbname:
        journal = PgJournal(pg_pair.url(dbname=dbname), reconnect_for=START_DEADLINE)
        state = journal.load(example_config(), None, NOW)
        journal.checkpoint_in_background()
        try:
            msgs = [sign_on(T1, stan=1)] + [earn(T1, n + 2, luhn_complete(f"628000000{n:06d}"),
                                                 100_000) for n in range(3)]
            entries = [e for m in msgs for e in handle(state, m, NOW,
                                                        fetch=journal.fetch).entries]
            journal.append(entries)
            journaled(state, entries)
            journal.verify_tail()  # the advance over those rows, for the next batch to carry
            error = interrupted_commit(pg_pair, lambda: journal.append([]),
                                       "pg_terminate_backend")
            assert error is None, error
            assert journal.stats.commits_unknown == 1
            journal.verify_tail()
            journal.append([])  # the advance again, or nothing when the lost one committed
            assert journal.verified_upto() == entries[-1].id
        finally:
            journal.close()
