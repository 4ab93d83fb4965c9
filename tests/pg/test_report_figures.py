"""The report figures (settlement.figures: a range, and its series by day, Saturday week and
Jalali month) are the same read from PostgreSQL as from SQLite, for the same simulated days."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from settlement import figures
from settlement.day import stores_from_config
from settlement.journal import Journal
from tests.settlement import simulation


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, pg_primary: Any
         ) -> Iterator[tuple[Path, str, Any]]:
    from tests.pg.fixtures import fresh_database

    tmp = tmp_path_factory.mktemp("report-engines")
    sqlite_path = tmp / "lps.db"
    sim = simulation.run(sqlite_path, seed=11, days=4, events=150)
    with fresh_database(pg_primary) as name:
        url = pg_primary.url(dbname=name)
        simulation.run(tmp / "unused.db", seed=11, days=4, events=150, journal=url)
        yield sqlite_path, url, sim


@pytest.mark.parametrize("grain", ["day", "week", "month"])
def test_the_report_figures_are_the_same_on_both_engines(both: tuple[Path, str, Any],
                                                         grain: str) -> None:
    sqlite_path, url, sim = both
    stores = stores_from_config(sim.config)
    start, end = sim.days[0], sim.days[-1]
    found = []
    for database in (sqlite_path, url):
        with Journal(database) as j:
            found.append((figures.compute(j.reader, stores, start, end),
                          figures.series(j.reader, stores, start, end, grain)))
    assert found[0] == found[1]
    assert sum(f.purchases for f in found[0][0]) > 0
