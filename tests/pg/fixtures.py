"""Pytest fixtures for every test that needs a real PostgreSQL (tests/pg and later engines' tests).

A conftest that wants them imports them (`from tests.pg.fixtures import *`); nothing else loads
this module, so suites that do not touch PostgreSQL start no server. Under CI=true a machine that
cannot run PostgreSQL fails these tests; elsewhere they are skipped with the reason.

Every cluster is checked after its teardown: a process or directory of it still there fails the
test that used it (tests/pg/cluster.py `leftovers`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import NoReturn

import pytest
from psycopg import sql

from tests.pg.cluster import (
    APP_USER,
    PgCluster,
    PgInstall,
    PostgresUnavailable,
    find_install,
    leftovers,
    pg_cluster,
    server_account,
)

__all__ = ["fresh_database", "pg_cluster_factory", "pg_database", "pg_install", "pg_journal_url",
           "pg_pair", "pg_primary"]

ClusterFactory = Callable[..., AbstractContextManager[PgCluster]]


def postgres_unavailable(why: str) -> NoReturn:
    """A skip on a developer's machine; under CI=true, where make test installs it, a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required under CI=true: {why}", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="session")
def pg_install() -> PgInstall:
    """The newest installed PostgreSQL, and an account to run it as."""
    try:
        install = find_install()
        server_account()
    except PostgresUnavailable as exc:
        postgres_unavailable(str(exc))
    return install


@contextmanager
def checked_cluster(install: PgInstall, *, standby: bool = False) -> Iterator[PgCluster]:
    """pg_cluster, then a check that its teardown left no process and no directory."""
    with pg_cluster(standby=standby, install=install) as cluster:
        yield cluster
    left = leftovers(cluster)
    assert not left, f"PostgreSQL cluster left behind: {left}"


@pytest.fixture(scope="session")
def pg_primary(pg_install: PgInstall) -> Iterator[PgCluster]:
    """One primary without standby for the whole session; tests keep to their own database."""
    with checked_cluster(pg_install) as cluster:
        yield cluster


@contextmanager
def fresh_database(cluster: PgCluster) -> Iterator[str]:
    """A new, empty database owned by the application role on `cluster`; its name. Dropped
    after the block."""
    name = f"t_{secrets.token_hex(6)}"
    with cluster.primary.admin_connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(name), sql.Identifier(APP_USER)))
    try:
        yield name
    finally:
        with cluster.primary.admin_connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


@pytest.fixture
def pg_database(pg_primary: PgCluster) -> Iterator[str]:
    """A new, empty database owned by the application role; its conninfo. Dropped after."""
    with fresh_database(pg_primary) as name:
        yield pg_primary.conninfo(pg_primary.primary, dbname=name)


@pytest.fixture
def pg_journal_url(pg_primary: PgCluster) -> Iterator[str]:
    """A new, empty database as `[switch] database` names it: a postgresql:// URL."""
    with fresh_database(pg_primary) as name:
        yield pg_primary.url(dbname=name)


@pytest.fixture(scope="module")
def pg_pair(pg_install: PgInstall) -> Iterator[PgCluster]:
    """A primary with a streaming synchronous standby, shared by a module's tests.

    Tests may pause and resume the standby; one that kills or promotes uses pg_cluster_factory.
    """
    with checked_cluster(pg_install, standby=True) as cluster:
        yield cluster


@pytest.fixture
def pg_cluster_factory(pg_install: PgInstall) -> ClusterFactory:
    """Clusters of the test's own: `with pg_cluster_factory(standby=True) as cluster: ...`.

    For tests that kill or promote; leaving the `with` stops the cluster and checks its remains.
    """

    def make(*, standby: bool = False) -> AbstractContextManager[PgCluster]:
        return checked_cluster(pg_install, standby=standby)

    return make
