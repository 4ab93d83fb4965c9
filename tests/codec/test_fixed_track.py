"""A fixed-length `z` field (a track: digits, `=` its separator) on the wire.

docs/codec-api.md: a fixed `n` value shorter than its field is zero-filled left on encode and a
longer one refused; a `z` value is a track, which zero-filling would change, so a fixed `z`
field takes a value of exactly its length, and one of any other length is refused with the
field's number, never written shorter or padded (a profile may declare one: `type = "z"`
without a prefix).
"""

from __future__ import annotations

import pytest

from iso8583 import EncodeError
from iso8583.fields import DigitBcd, DigitChars, FieldCodec

CODECS = [DigitChars(35, "DE35", 6, 0, "chars", track2=True),
          DigitBcd(35, "DE35", 6, 0, "bcd", track2=True, pad="right", pad_nibble="f")]


@pytest.mark.parametrize("codec", CODECS, ids=["chars", "bcd"])
def test_a_fixed_track_is_written_at_its_length_and_read_back(codec: FieldCodec) -> None:
    wire = codec.encode("12=456")
    assert len(wire) == codec.fixed_size
    assert codec.decode(wire, 0) == ("12=456", len(wire))


@pytest.mark.parametrize("codec", CODECS, ids=["chars", "bcd"])
@pytest.mark.parametrize("value", ["12=45", "1=4", "12=4567"])
def test_a_fixed_track_of_another_length_is_refused(codec: FieldCodec, value: str) -> None:
    with pytest.raises(EncodeError) as refused:
        codec.encode(value)
    assert refused.value.field == 35
