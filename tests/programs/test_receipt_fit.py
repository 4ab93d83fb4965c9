"""The receipt line keeps, in order, each part that still fits whole in 120 UTF-8 bytes and
leaves out the others (switch/core/programs/receipt.py; docs/protocol.md §3, DE48 `MS`)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from switch.core.programs.receipt import MAX_BYTES, SEP, fit

PART = st.one_of(st.sampled_from(["", "Earned 30 pts", "Balance 1234", "مانده ۱۲۳", 60 * "x"]),
                 st.text(alphabet="aé مz", max_size=70))


def kept_greedily(parts: list[str]) -> str:
    """Each part in turn is added when the line with it is still within MAX_BYTES."""
    kept: list[str] = []
    for part in parts:
        line = SEP.join([*kept, part]) if kept else part
        if len(line.encode("utf-8")) <= MAX_BYTES and line:
            kept.append(part)
    return SEP.join(kept)


@settings(max_examples=100, deadline=None)
@given(st.lists(PART, max_size=8))
def test_fit_keeps_each_part_that_still_fits(parts: list[str]) -> None:
    assert fit(parts) == kept_greedily(parts)
