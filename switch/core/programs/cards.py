"""New card numbers for the card printer: Luhn-valid, in a BIN range, never reused."""

from __future__ import annotations

from collections.abc import Collection, Iterator

from switch.core.luhn import luhn_complete
from switch.core.text import is_digits


def issue_numbers(bin_: str, length: int, start: int, count: int,
                  taken: Collection[str] = ()) -> Iterator[str]:
    """`count` card numbers `bin_ + serial + check digit`, serials from `start` upwards,
    skipping numbers in `taken`. Raises ValueError when the range runs out."""
    if not is_digits(bin_) or not 13 <= length <= 19 or len(bin_) >= length - 1:
        raise ValueError(f"cannot make {length}-digit numbers from BIN {bin_!r}")
    width = length - len(bin_) - 1
    serial, made = start, 0
    while made < count:
        if serial >= 10 ** width:
            raise ValueError(f"BIN {bin_} has no room for {count} more {length}-digit numbers")
        pan = luhn_complete(f"{bin_}{serial:0{width}d}")
        serial += 1
        if pan in taken:
            continue
        made += 1
        yield pan
