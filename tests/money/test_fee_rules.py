"""The coalition's fee, per coalition: docs/settlement.md "The coalition's fee".

A coalition without an operator's fee has no fee lines, and the coalitions that have one keep
theirs as they are. The day is the hand-computed three-store day of tests/settlement/scenario.py
(its fee lines are worked by hand in tests/settlement/test_fees.py).
"""

from __future__ import annotations

import dataclasses

from settlement.day import settle_rows, stores_from_config
from switch.config import load_config
from tests.settlement import scenario as sc


def test_a_coalition_without_a_fee_leaves_the_others_lines_as_they_are() -> None:
    stores = stores_from_config(load_config(sc.EXAMPLE))
    alone = settle_rows(sc.DAY, stores, sc.ROWS, sc.LOTS, sc.CLOSES).fee_lines
    # A coalition that sorts before tehran-mall, with a store of its own and no operator.
    lone = dataclasses.replace(stores[sc.S1], id="STORE0000000099", name="Abadan Books",
                               coalition="abadan-club", terms=None)
    day = settle_rows(sc.DAY, {**stores, lone.id: lone}, sc.ROWS, sc.LOTS, sc.CLOSES)
    assert len(alone) == 7 and {f.store_id for f in alone} == {sc.S1, sc.S2, sc.S3}
    assert day.fee_lines == alone
