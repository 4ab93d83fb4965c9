"""Packed BCD digits read back as they were written (docs/codec-api.md: `n` values are digit
strings of ASCII `0-9`; schemas/profiles/iso87b.toml pads DE2's odd count on the right, as
jPOS's IFB_LLNUM does, and bcd.toml pads fixed `n` fields on the left).

A value whose first digit is the pad nibble tells a left pad from a right one; a nibble A-F
where a digit belongs is refused, never read as a letter.
"""

from __future__ import annotations

import pytest

from iso8583 import DecodeError, Message, load_profile
from iso8583.fields import DigitBcd


@pytest.mark.parametrize("pan", ["012345678901234", "0000000000001", "0"])
def test_a_right_padded_odd_value_starting_with_the_pad_digit_reads_back(pan: str) -> None:
    profile = load_profile("iso87b")
    msg = Message(mti="0200", fields={2: pan, 3: "000000", 11: "000001", 41: "T0000001"})
    assert profile.decode(profile.encode(msg)).fields[2] == pan
    # The field's own layout, which the profile's fast path hands what it does not read.
    codec = DigitBcd(2, "DE2", 19, 2, "bcd", pad="right", pad_nibble="0")
    wire = codec.encode(pan)
    assert codec.decode(wire, 0) == (pan, len(wire))


@pytest.mark.parametrize("raw", [b"\x0a\xbc", b"\x01\x2f", b"\x0f\x00"])
def test_a_fixed_odd_bcd_field_with_a_nibble_that_is_no_digit_is_refused(raw: bytes) -> None:
    codec = DigitBcd(22, "DE22", 3, 0, "bcd")
    assert codec.decode(b"\x01\x23", 0) == ("123", 2)
    with pytest.raises(DecodeError) as refused:
        codec.decode(raw, 0)
    assert refused.value.field == 22


@pytest.mark.parametrize("cut", [1, 2, 8])
def test_a_bcd_value_cut_short_is_refused(cut: int) -> None:
    """docs/codec-api.md: `decode` raises only `DecodeError`, here for a message that ends
    inside a field, never reading a shorter value than its prefix announces."""
    codec = DigitBcd(2, "DE2", 19, 2, "bcd")
    wire = codec.encode("6280001234567895")
    assert codec.decode(wire, 0) == ("6280001234567895", len(wire))
    with pytest.raises(DecodeError) as refused:
        codec.decode(wire[:-cut], 0)
    assert refused.value.field == 2
