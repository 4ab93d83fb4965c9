"""`lps report` figures over the simulated days, against what the switch decided in memory."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from settlement import report
from settlement.day import stores_from_config
from settlement.journal import Journal
from tests.settlement import simulation


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, simulation.Simulation]:
    path = tmp_path_factory.mktemp("report") / "lps.db"
    return path, simulation.run(path, seed=5, days=4, events=200)


def build(path: Path, s: simulation.Simulation, start: dt.date, end: dt.date
          ) -> report.Report:
    with Journal(path) as j:
        return report.build(j, stores_from_config(s.config), start, end)


def test_figures_match_the_switch(sim: tuple[Path, simulation.Simulation]) -> None:
    path, s = sim
    start, end = s.days[0], s.days[-1]
    rep = build(path, s, start, end)
    by = {f.scope: f for f in rep.rows}
    earns = [t for t in s.txns.values() if t.kind in ("earn", "advice") and t.approved
             and not t.reversed and start <= t.business_day <= end]
    for sid in simulation.TERMINALS.values():
        mine = [t for t in earns if t.store == sid]
        f = by[sid]
        assert f.purchases == len(mine)
        assert f.average_basket == sum(t.amount for t in mine) // len(mine)
        assert f.active_customers <= 25 and f.new_customers <= f.active_customers
    total = by["ALL"]
    assert total.purchases == len(earns)
    # Issued less redeemed less expired is what is outstanding, plus the debts (negative
    # remaining) left on lapsed lots: from the lots' remaining in the switch's memory.
    lots = s.remaining[end]
    debts = sum(min(rem, 0) for lid, rem in lots.items()
                if (lot := s.lots[lid]).kind == "points" and lot.expires_on is not None
                and lot.expires_on <= end)
    live = sum(rem for lid, rem in lots.items()
               if (lot := s.lots[lid]).kind == "points" and (lot.expires_on is None
                                                             or lot.expires_on > end))
    assert total.points_outstanding == live
    assert total.liability == live * 1000
    assert total.points_issued - total.points_redeemed - total.points_expired == live + debts
    assert total.points_expired > 0 and total.points_redeemed > 0


def test_a_single_day_and_the_renderings(sim: tuple[Path, simulation.Simulation]) -> None:
    path, s = sim
    day = s.days[1]
    rep = build(path, s, day, day)
    text = report.text_table(rep)
    assert f"business days {day} to {day}" in text
    assert len(text.splitlines()) == 3 + len(rep.rows)
    csv = report.csv_bytes(rep).decode().splitlines()
    assert len(csv) == 1 + len(rep.rows) and csv[1].startswith(f"{day},{day},STORE")
    page = report.html_page(rep)
    assert page.count("<svg") == 2 and "<script" not in page
    empty = build(path, s, dt.date(2025, 1, 1), dt.date(2025, 1, 2))
    assert all(f.purchases == 0 and f.average_basket == 0 for f in empty.rows)
