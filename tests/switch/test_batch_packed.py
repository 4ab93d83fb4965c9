"""A batch's rows cross the commit process's pipe as plain lists and tuples
(`BatchRows.packed`) and come back as the same `BatchRows` (switch/journal/sqlite/committer.py
says what passes on the pipe)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import pickle

import pytest

from switch.core.programs.club import ClubRows
from switch.journal.batch import BatchRows, Packed

DAY = dt.date(2026, 12, 6)


def _every_table() -> BatchRows:
    """A row in every table, each table's unlike any other's, so that a field read into
    another's place shows."""
    rows = BatchRows()
    for n, f in enumerate(dataclasses.fields(BatchRows)):
        if f.name != "clubs":
            getattr(rows, f.name).append((f.name, n, None))
    rows.clubs += [ClubRows("6280000000000001", "GOLD", DAY, DAY, 120, 1990,
                            ((DAY, 5000),), (("cafe", 3, 10),), "SILVER", DAY),
                   ClubRows("6280000000000002", "", None, None, 0, 0)]
    return rows


def test_the_rows_come_back_as_they_were_packed() -> None:
    rows = _every_table()
    body = pickle.dumps(rows.packed(), protocol=pickle.HIGHEST_PROTOCOL)
    back = BatchRows.unpacked(pickle.loads(body))
    assert back == rows
    assert all(type(c) is ClubRows for c in back.clubs)
    assert back.clubs[0].member_until == DAY and back.clubs[1].spend == ()


def test_the_pipe_carries_no_class_of_the_switch() -> None:
    """Plain lists and tuples: the child looks no class up to read a batch."""
    body = pickle.dumps(_every_table().packed(), protocol=pickle.HIGHEST_PROTOCOL)
    assert b"BatchRows" not in body and b"ClubRows" not in body and b"switch" not in body


def test_an_empty_batch_packs_to_empty_lists() -> None:
    packed = BatchRows().packed()
    assert len(packed) == len(dataclasses.fields(BatchRows))
    assert all(part == [] for part in packed)
    assert BatchRows.unpacked(packed) == BatchRows()


@pytest.mark.parametrize("packed", [(), tuple([[]] * 12), tuple([[]] * 14)])
def test_a_packed_batch_of_another_shape_is_refused(packed: Packed) -> None:
    with pytest.raises(ValueError):
        BatchRows.unpacked(packed)
