"""The rows a bulk group commit writes (`switch.journal.sql.bulk`), one per key, against the
rows written one statement each in journal order: a model of each table's upsert, applied row
by row, must end in what the one-per-key rows give (docs/switch.md, "PostgreSQL")."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from switch.journal.sql.bulk import card_rows, last_per_key, lot_deltas, summed_per_key

Row = tuple[Any, ...]

_keys = st.sampled_from(["a", "b", "c"])
_counts = st.integers(min_value=-10**12, max_value=10**12)


def _upsert_absolute(rows: list[Row], keys: int) -> dict[Row, Row]:
    """`ON CONFLICT DO UPDATE SET every column = excluded`: the table after each row in turn."""
    table: dict[Row, Row] = {}
    for row in rows:
        table[row[:keys]] = row
    return table


def _upsert_added(rows: list[Row], keys: int) -> dict[Row, Row]:
    """`ON CONFLICT DO UPDATE SET c = table.c + excluded.c`, row after row."""
    table: dict[Row, Row] = {}
    for row in rows:
        key = row[:keys]
        old = table.get(key)
        table[key] = row if old is None else (
            *key, *(a + b for a, b in zip(old[keys:], row[keys:], strict=True)))
    return table


@given(st.lists(st.tuples(_keys, _keys, _counts, _counts), max_size=12))
def test_the_last_row_per_key_is_what_absolute_upserts_leave(rows: list[Row]) -> None:
    one = last_per_key(rows, 2)
    assert len({r[:2] for r in one}) == len(one)
    assert {r[:2]: r for r in one} == _upsert_absolute(rows, 2)


@given(st.lists(st.tuples(_keys, _keys, _counts, _counts, _counts), max_size=12))
def test_summed_rows_are_what_adding_upserts_leave(rows: list[Row]) -> None:
    one = summed_per_key(rows, 2)
    assert len({r[:2] for r in one}) == len(one)
    assert {r[:2]: r for r in one} == _upsert_added(rows, 2)


def test_summed_rows_keep_their_keys_and_order() -> None:
    rows = [("t1", "b1", 1, 100), ("t2", "b1", 1, 50), ("t1", "b1", 2, -30)]
    assert summed_per_key(rows, 2) == [("t1", "b1", 3, 70), ("t2", "b1", 1, 50)]


@given(st.lists(st.tuples(_counts, st.integers(min_value=1, max_value=4)), max_size=12),
       st.dictionaries(st.integers(min_value=1, max_value=4), _counts))
def test_lot_deltas_end_in_the_remaining_each_move_in_turn_gives(
        moves: list[Row], remaining: dict[int, int]) -> None:
    """`UPDATE lots SET remaining = remaining + delta` a move at a time, against one update a
    lot; a lot no move touches, or whose moves add up to 0, is not updated at all."""
    one_by_one = dict(remaining)
    for delta, lot in moves:
        if lot in one_by_one:
            one_by_one[lot] += delta
    bulk = dict(remaining)
    per_lot = lot_deltas(moves)
    assert len({lot for lot, _ in per_lot}) == len(per_lot)
    assert all(delta != 0 for _, delta in per_lot)
    for lot, delta in per_lot:
        if lot in bulk:
            bulk[lot] += delta
    assert bulk == one_by_one


def test_lot_deltas_sum_per_lot_and_leave_out_a_net_zero() -> None:
    assert lot_deltas([(-5, 1), (7, 2), (5, 1), (-2, 2), (3, 3)]) == [(2, 5), (3, 3)]


@given(st.lists(st.tuples(_keys, st.sampled_from(["c1", "c2"]),
                          st.sampled_from(["active", "blocked", "replaced"]),
                          st.sampled_from(["2026-12-01", "2026-12-05"])), max_size=10),
       st.dictionaries(_keys, st.tuples(st.just("c0"), st.just("active"),
                                        st.just("2025-01-01"))))
def test_card_rows_leave_what_each_card_upsert_in_turn_leaves(
        rows: list[Row], existing: dict[str, Row]) -> None:
    """`INSERT ... ON CONFLICT (pan) DO UPDATE SET status = excluded.status`."""

    def upsert(table: dict[str, Row], row: Row) -> None:
        old = table.get(row[0])
        table[row[0]] = row[1:] if old is None else (old[0], row[2], old[2])

    one_by_one = dict(existing)
    for row in rows:
        upsert(one_by_one, row)
    merged = card_rows(rows)
    assert len({r[0] for r in merged}) == len(merged)
    bulk = dict(existing)
    for row in merged:
        upsert(bulk, row)
    assert bulk == one_by_one


def test_a_card_keeps_its_first_rows_coalition_and_day_with_the_last_status() -> None:
    rows = [("p1", "c1", "active", "2026-12-01"), ("p2", "c1", "active", "2026-12-01"),
            ("p1", "c2", "blocked", "2026-12-05")]
    assert card_rows(rows) == [("p1", "c1", "blocked", "2026-12-01"),
                               ("p2", "c1", "active", "2026-12-01")]
