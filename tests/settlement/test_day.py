"""The hand-computed three-store day, file by file, and the core's refusals."""

from __future__ import annotations

import dataclasses
import json

import pytest

from settlement import render
from settlement.day import DaySettlement, settle_rows, stores_from_config
from settlement.netting import StoreInfo
from settlement.records import Draw, InputError, InvariantError, Totals
from switch.config import load_config
from tests.settlement import scenario as sc

#: The scenario's day settled, and its files as `render.render` gives them.
Files = tuple[DaySettlement, dict[str, bytes]]


@pytest.fixture(scope="module")
def stores() -> dict[str, StoreInfo]:
    return stores_from_config(load_config(sc.EXAMPLE))


@pytest.fixture(scope="module")
def files(stores: dict[str, StoreInfo]) -> Files:
    day = settle_rows(sc.DAY, stores, sc.ROWS, sc.LOTS, sc.CLOSES)
    return day, render.render(day)


@pytest.mark.parametrize("name", sorted(p.name for p in sc.EXPECTED.iterdir()))
def test_expected_file(files: Files, name: str) -> None:
    _, out = files
    assert out[name].decode() == (sc.EXPECTED / name).read_text()


def test_settlement_json(files: Files) -> None:
    day, out = files
    doc = json.loads(out[render.SETTLEMENT])
    assert doc["business_day"] == "2026-11-23"
    assert doc["inputs_digest"] == day.inputs_digest and len(day.inputs_digest) == 64
    assert doc["entries"] == {
        "total": 14, "settling_draws": 7,
        "by_kind": {"batch_close/00": 1, "batch_close/95": 2, "earn/00": 1, "inquiry/00": 1,
                    "redeem/00": 5, "redeem/51": 1, "reversal/00": 2, "sv_purchase/00": 1},
    }
    mall = doc["coalitions"]["tehran-mall"]
    assert mall["points"] == {
        "obligations": 3, "gross_units": 165, "gross_amount": 165_000, "net_units": 10,
        "net_amount": 10_000, "netting_removed_amount": 155_000, "netting_ratio": "0.0606",
    }
    assert mall["stored_value"]["gross_amount"] == 50_000
    assert mall["stored_value"]["netting_ratio"] == "1.0000"
    assert mall["breakage"] == {"lots": 2, "points": 40, "amount": 40_000}
    assert mall["instructions"] == [
        {"store_id": sc.S1, "action": "pay", "amount": 5000, "currency": "364", "kind": "points"},
        {"store_id": sc.S2, "action": "receive", "amount": 10000, "currency": "364",
         "kind": "points"},
        {"store_id": sc.S3, "action": "pay", "amount": 5000, "currency": "364", "kind": "points"},
        {"store_id": sc.S1, "action": "receive", "amount": 50000, "currency": "364",
         "kind": "stored_value"},
        {"store_id": sc.S3, "action": "pay", "amount": 50000, "currency": "364",
         "kind": "stored_value"},
    ]
    assert doc["reconciliation"] == {
        "batches": 3, "in_balance": 1, "out_of_balance": 2, "differences": 2,
    }
    import hashlib
    for name, digest in doc["files"].items():
        assert hashlib.sha256(out[name]).hexdigest() == digest


def test_report_html_is_self_contained(files: Files) -> None:
    _, out = files
    page = out[render.REPORT].decode()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "http://" not in \
        page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert page.count("<svg") == 2  # points and the coalition-wide purse
    assert "Book City" in page and "108:000000000108:20000:51" in page
    # Book City receives 10 points, the largest bar, drawn to full scale right of zero.
    assert '<rect x="480" y="44" width="260"' in page


def test_rendering_is_deterministic(stores: dict[str, StoreInfo], files: Files) -> None:
    again = render.render(settle_rows(sc.DAY, stores, sc.ROWS, sc.LOTS, sc.CLOSES))
    assert again == files[1]


def test_any_change_of_input_changes_the_digest(stores: dict[str, StoreInfo],
                                                files: Files) -> None:
    day, _ = files
    changed = [*sc.ROWS[:-1], dataclasses.replace(sc.ROWS[-1], response_code="00")]
    assert settle_rows(sc.DAY, stores, changed, sc.LOTS, sc.CLOSES).inputs_digest != \
        day.inputs_digest
    moved = [dataclasses.replace(r, draws=(sc.p(1, sc.S1, -61),)) if r.id == 102 else r
             for r in sc.ROWS]
    assert settle_rows(sc.DAY, stores, moved, sc.LOTS, sc.CLOSES).inputs_digest != \
        day.inputs_digest
    recounted = [*sc.CLOSES[:-1], dataclasses.replace(sc.CLOSES[-1],
                                                      terminal=Totals(debits=1))]
    assert settle_rows(sc.DAY, stores, sc.ROWS, sc.LOTS, recounted).inputs_digest != \
        day.inputs_digest
    fewer_lots = settle_rows(sc.DAY, stores, sc.ROWS, sc.LOTS[:-1], sc.CLOSES)
    assert fewer_lots.inputs_digest != day.inputs_digest


def test_entry_read_twice_is_refused(stores: dict[str, StoreInfo]) -> None:
    with pytest.raises(InvariantError, match="read twice or out of order"):
        settle_rows(sc.DAY, stores, [*sc.ROWS, sc.ROWS[3]])


def test_entry_of_another_day_is_refused(stores: dict[str, StoreInfo]) -> None:
    with pytest.raises(InvariantError, match="belongs to 2026-11-22"):
        settle_rows(sc.DAY, stores, [sc.PREV_EARN])


def test_declined_entry_that_moved_lots_is_refused(stores: dict[str, StoreInfo]) -> None:
    bad = sc.row(200, "redeem", sc.S2, sc.T2, sc.A, 1000, sc.p(1, sc.S1, -1), rc="51")
    with pytest.raises(InputError, match="entry 200: declined"):
        settle_rows(sc.DAY, stores, [bad])


def test_burn_that_credits_a_lot_is_refused(stores: dict[str, StoreInfo]) -> None:
    bad = sc.row(200, "redeem", sc.S2, sc.T2, sc.A, 1000, sc.p(1, sc.S1, 5))
    with pytest.raises(InputError, match="lot 1 moved by 5, the wrong way"):
        settle_rows(sc.DAY, stores, [bad])


def test_unknown_issuer_is_refused(stores: dict[str, StoreInfo]) -> None:
    bad = sc.row(200, "redeem", sc.S2, sc.T2, sc.A, 1000, Draw(1, "points", "GHOST", -5))
    with pytest.raises(InputError, match=r"'GHOST'.*not in the configuration"):
        settle_rows(sc.DAY, stores, [bad])


def test_same_day_reversal_and_own_store_burn_create_no_obligation(
        stores: dict[str, StoreInfo]) -> None:
    rows = [sc.ROWS[4], sc.ROWS[5], sc.ROWS[8]]  # 105 reversed by 106; 109 at its own store
    day = settle_rows(sc.DAY, stores, rows)
    assert day.points.obligations == [] and day.points.instructions == []
    assert day.settling_draws == 2 and day.entries == 3


def test_chunk_digest_depends_on_values_not_on_objects() -> None:
    from settlement.digest import items_digest

    kind = "redeem"
    same = [(1, kind, None), (2, kind, None)]  # one string object twice
    copies = [(1, "".join(["red", "eem"]), None), (2, "".join(["re", "deem"]), None)]
    assert same[0][1] is same[1][1] and copies[0][1] is not copies[1][1]
    assert items_digest(same) == items_digest(copies)
    assert items_digest(same) != items_digest([(1, kind, None), (2, kind, 0)])
