"""The PostgreSQL clusters the tests stand on: how they run, replicate, fail over and go away."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import psycopg
import pytest

from tests.pg.cluster import (
    START_DEADLINE,
    PgCluster,
    PostgresFailed,
    PostgresUnavailable,
    find_install,
    leftovers,
    processes_tagged,
    wait_for,
)
from tests.pg.fixtures import ClusterFactory, postgres_unavailable


def test_the_newest_installed_version_is_chosen(tmp_path: Path) -> None:
    for version in ("13", "15", "9", "16-beta"):
        (tmp_path / version / "bin").mkdir(parents=True)
        for tool in ("initdb", "postgres"):
            (tmp_path / version / "bin" / tool).touch()
    (tmp_path / "17" / "bin").mkdir(parents=True)  # a client-only install: no server
    (tmp_path / "17" / "bin" / "psql").touch()
    install = find_install(tmp_path)
    assert (install.version, install.bindir) == (15, tmp_path / "15" / "bin")


def test_no_installed_server_is_named_as_such(tmp_path: Path) -> None:
    with pytest.raises(PostgresUnavailable, match="apt-get install postgresql"):
        find_install(tmp_path / "nothing")


def test_missing_postgres_fails_under_ci_and_skips_elsewhere(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required under CI=true: gone"):
        postgres_unavailable("gone")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="gone"):
        postgres_unavailable("gone")


def test_primary_is_durable_private_and_not_root(pg_primary: PgCluster) -> None:
    node = pg_primary.primary
    settings = dict(node.query(
        "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit',"
        " 'listen_addresses', 'full_page_writes', 'data_checksums')"))
    assert settings == {"fsync": "on", "synchronous_commit": "on", "listen_addresses": "127.0.0.1",
                        "full_page_writes": "on", "data_checksums": "on"}
    assert node.server_pid is not None
    uid = int(Path(f"/proc/{node.server_pid}/status").read_text().split("Uid:")[1].split()[1])
    if os.geteuid() == 0:
        assert uid != 0, "the server must not run as root"
    assert stat.S_IMODE(node.datadir.stat().st_mode) == 0o700


def test_tcp_sessions_need_the_password(pg_primary: PgCluster) -> None:
    good = pg_primary.conninfo(pg_primary.primary)
    with psycopg.connect(good) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("lps",)
    for password in ("", "not-the-password"):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(good.replace(pg_primary.passwords["lps"], password or "''"))


def test_standby_is_synchronous_commits_wait_for_it(pg_pair: PgCluster) -> None:
    """A paused standby holds every commit on the primary until it flushes the WAL again."""
    assert (pg_pair.node_tag("standby1"), "streaming", "sync") in pg_pair.replication_state()
    assert pg_pair.standby.in_recovery()
    with psycopg.connect(pg_pair.conninfo(pg_pair.primary), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS held (n int)")
    done = threading.Event()

    def commit() -> None:
        with psycopg.connect(pg_pair.conninfo(pg_pair.primary), autocommit=True) as conn:
            conn.execute("INSERT INTO held VALUES (1)")
        done.set()

    pg_pair.standby.pause()
    writer = threading.Thread(target=commit)
    try:
        writer.start()
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
        wait_for(lambda: True if pg_pair.primary.query(waiting)[0][0] == 1 else None,
                 time.monotonic() + START_DEADLINE, "a commit waiting for the standby")
        assert not done.is_set()
    finally:
        pg_pair.standby.resume()
        writer.join(START_DEADLINE)
    assert done.is_set()
    rows = wait_for(lambda: pg_pair.standby.query(
        "SELECT count(*) FROM held", dbname="lps")[0][0] or None,
                    time.monotonic() + START_DEADLINE, "the row replayed on the standby")
    assert rows >= 1


def test_kill_promote_and_nothing_left(pg_cluster_factory: ClusterFactory) -> None:
    with pg_cluster_factory(standby=True) as cluster:
        old, standby = cluster.primary, cluster.standby
        with psycopg.connect(cluster.conninfo(old), autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (n int)")
            conn.execute("INSERT INTO kept VALUES (7)")
        cluster.kill_primary()
        assert not old.running()
        assert processes_tagged(cluster.node_tag("primary")) == []
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(cluster.conninfo(old), connect_timeout=5)
        seconds = cluster.promote(standby)
        assert seconds < START_DEADLINE
        assert cluster.primary is standby and not standby.in_recovery()
        with psycopg.connect(cluster.conninfo(standby), autocommit=True) as conn:
            assert conn.execute("SELECT n FROM kept").fetchall() == [(7,)]
            conn.execute("INSERT INTO kept VALUES (8)")  # commits: no standby to wait for
    assert leftovers(cluster) == []


def test_teardown_after_a_failing_test_leaves_nothing(
        pg_cluster_factory: ClusterFactory) -> None:
    with pytest.raises(RuntimeError, match="the test failed"), \
            pg_cluster_factory(standby=True) as cluster:
        cluster.standby.pause()  # even a stopped server is ended
        raise RuntimeError("the test failed")
    assert leftovers(cluster) == []


def test_a_server_that_cannot_start_is_reported_with_its_log(
        pg_cluster_factory: ClusterFactory) -> None:
    with pg_cluster_factory() as cluster:
        node = cluster.primary
        node.stop()
        node.settings["shared_buffers"] = "not-a-size"
        with pytest.raises(PostgresFailed, match="shared_buffers"):
            node.start()
        assert not node.running()
    assert leftovers(cluster) == []
