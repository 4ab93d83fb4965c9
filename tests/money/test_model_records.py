"""The core's compact records keep what they are given, or refuse it.

A remembered request lives in `State.txns` packed into one int (docs/switch.md, "Memory":
digest, journal id, business day, flags); unpacked it must be the record that went in, and a
record that does not fit the packing must be refused rather than cut short: a journal id cut to
its low bits would name another row to a retransmission or a reversal. A batch's totals are
read back from a 0500's journal row by DE number (docs/protocol.md §4, DE74-77 and DE86-89),
the inverse of how they are written, a missing number counting 0.
"""

from __future__ import annotations

import datetime as dt

import pytest

from switch.core.model import APPROVED, REVERSED, REVERSIBLE, Remembered, Totals
from switch.core.request import request_digest
from tests.switch.support import NOW, T1, card, earn

#: The widths the packing promises (switch/core/model.py): 48-bit journal ids, 4 flag bits,
#: business days up to ordinal 2**20 - 1 (the year 2871), a digest of at most 16 bytes.
LARGEST_ID = 2**48 - 1
LAST_DAY = dt.date.fromordinal(2**20 - 1)
ALL_FLAGS = 15


@pytest.mark.parametrize("record", [
    Remembered(request_digest(earn(T1, 1, card(801), 100_000)), 1, NOW.date(), APPROVED),
    Remembered(b"", 7, NOW.date(), 0),
    Remembered(b"\xff" * 16, LARGEST_ID, LAST_DAY, ALL_FLAGS),
    Remembered(b"\x00" * 15 + b"\x01", 2, dt.date(1, 1, 1), APPROVED | REVERSIBLE | REVERSED),
], ids=["an earn", "no digest", "every bit", "smallest digest"])
def test_a_record_unpacks_as_it_was_packed(record: Remembered) -> None:
    assert Remembered.unpack(record.packed()) == record


@pytest.mark.parametrize("record", [
    Remembered(b"", LARGEST_ID + 1, NOW.date(), 0),
    Remembered(b"", 1, NOW.date(), ALL_FLAGS + 1),
    Remembered(b"\x01" * 17, 1, NOW.date(), 0),
], ids=["journal id", "flags", "digest"])
def test_a_record_that_does_not_fit_is_refused(record: Remembered) -> None:
    with pytest.raises(ValueError, match=r"^cannot pack Remembered\("):
        record.packed()


def test_totals_read_back_by_de_number_are_the_totals_written() -> None:
    totals = Totals(credits=1, credit_amount=2, credit_reversals=3, credit_reversal_amount=4,
                    debits=5, debit_amount=6, debit_reversals=7, debit_reversal_amount=8)
    assert totals.as_fields() == {74: 1, 75: 3, 76: 5, 77: 7, 86: 2, 87: 4, 88: 6, 89: 8}
    assert Totals.from_fields(totals.as_fields()) == totals


@pytest.mark.parametrize("missing", [74, 75, 76, 77, 86, 87, 88, 89])
def test_a_missing_de_number_counts_zero(missing: int) -> None:
    fields = {n: 9 for n in (74, 75, 76, 77, 86, 87, 88, 89) if n != missing}
    assert Totals.from_fields(fields).as_fields() == {**fields, missing: 0}
