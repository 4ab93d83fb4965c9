"""Commits held by a paused synchronous standby, for the failover tests: PostgreSQL has
committed locally while it waits for the standby, so an interrupted wait is a commit whose
outcome the client cannot know (docs/switch.md, "PostgreSQL")."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tests.pg.cluster import START_DEADLINE, PgCluster, wait_for

#: The switch's sessions waiting for the standby to confirm their COMMIT.
WAITING = ("FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
           " AND application_name = 'lps-switch'")


def wait(probe: Callable[[], bool], what: str) -> None:
    wait_for(lambda: True if probe() else None, time.monotonic() + START_DEADLINE, what)


def commits_waiting_for_standby(cluster: PgCluster) -> int:
    return int(cluster.primary.query(f"SELECT count(*) {WAITING}")[0][0])


def interrupted_commit(pair: PgCluster, write: Callable[[], None], interrupt: str
                       ) -> BaseException | None:
    """Run `write` (one commit) while the standby is paused, `interrupt` its wait
    (`pg_cancel_backend` or `pg_terminate_backend`), and return what `write` raised."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            write()
            outcome.append(None)
        except Exception as exc:
            outcome.append(exc)

    pair.standby.pause()
    writer = threading.Thread(target=run)
    try:
        writer.start()
        wait(lambda: commits_waiting_for_standby(pair) == 1,
             "the commit waiting for the standby")
        pair.primary.query(f"SELECT {interrupt}(pid) {WAITING}")
        writer.join(START_DEADLINE)
    finally:
        pair.standby.resume()
        writer.join(START_DEADLINE)
    return outcome[0]
