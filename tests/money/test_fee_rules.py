"""The coalition's fee, per coalition: docs/settlement.md "The coalition's fee".

A coalition without an operator's fee has no fee lines; the coalitions that have one keep
theirs whatever the others are. The day is the hand-computed three-store day of
tests/settlement/scenario.py, its fee lines worked by hand in tests/settlement/test_fees.py.
"""

from __future__ import annotations

import dataclasses

from settlement.day import settle_rows, stores_from_config
from switch.config import load_config
from tests.settlement import scenario as sc

#: tests/settlement/test_fees.py's lines of the day (store, fee) -> (quantity, rate, amount).
TEHRAN_LINES = {
    (sc.S1, "issued_points"): (100, 10, 1_000),
    (sc.S1, "redeemed_points"): (50, 20, 1_000),
    (sc.S1, "gross_obligations"): (60_000, 50, 300),
    (sc.S2, "redeemed_points"): (75, 20, 1_500),
    (sc.S2, "gross_obligations"): (50_000, 50, 250),
    (sc.S3, "redeemed_points"): (25, 20, 500),
    (sc.S3, "gross_obligations"): (105_000, 50, 525),
}


def test_a_coalition_without_a_fee_leaves_the_others_lines_as_they_are() -> None:
    stores = stores_from_config(load_config(sc.EXAMPLE))
    # A coalition that sorts before tehran-mall, with a store of its own and no operator.
    lone = dataclasses.replace(stores[sc.S1], id="STORE0000000099", name="Abadan Books",
                               coalition="abadan-club", terms=None)
    day = settle_rows(sc.DAY, {**stores, lone.id: lone}, sc.ROWS, sc.LOTS, sc.CLOSES)
    assert {(f.store_id, f.fee): (f.quantity, f.rate, f.amount)
            for f in day.fee_lines} == TEHRAN_LINES
    assert {f.coalition for f in day.fee_lines} == {"tehran-mall"}
