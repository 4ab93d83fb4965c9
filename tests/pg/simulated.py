"""The settlement simulation journaled on both engines, once per session: the traffic that the
engine comparisons (tests/pg/test_journal.py, test_operator_cli.py) run their readers over."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg.cluster import PgCluster
from tests.pg.fixtures import fresh_database
from tests.settlement import simulation

Both = tuple[Path, simulation.Simulation, str, simulation.Simulation]


@pytest.fixture(scope="session")
def both(tmp_path_factory: pytest.TempPathFactory, pg_primary: PgCluster) -> Iterator[Both]:
    """The same simulated days journaled in SQLite and in PostgreSQL: the SQLite file, its
    simulation, the PostgreSQL database's URL and its simulation. Read only: a test that
    writes beside the SQLite file copies it first."""
    tmp = tmp_path_factory.mktemp("engines")
    sqlite_path = tmp / "lps.db"
    sqlite_sim = simulation.run(sqlite_path, seed=7)
    with fresh_database(pg_primary) as name:
        url = pg_primary.url(dbname=name)
        pg_sim = simulation.run(tmp / "unused.db", seed=7, journal=url)
        yield sqlite_path, sqlite_sim, url, pg_sim
