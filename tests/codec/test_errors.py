"""Malformed input: only codec errors escape, each naming field, offset and a usable reason."""

from __future__ import annotations

import pytest

from iso8583 import CodecError, DecodeError, EncodeError, Message, load_profile

H = bytes.fromhex
ASCII = load_profile("ascii")
BCD = load_profile("bcd")
TPDU = H("6000010002")
EARN = Message("0200", {2: "6280001234567893", 3: "000000", 4: "000000150000",
                        7: "1123093015", 11: "000002", 41: "T0000001",
                        42: "STORE0000000001"})


def ascii_earn() -> bytes:
    return ASCII.encode(EARN)


def test_truncated_inside_a_field_names_it_and_keeps_what_was_read() -> None:
    raw = ascii_earn()
    with pytest.raises(DecodeError) as info:
        ASCII.decode(raw[:-3])
    err = info.value
    assert err.field == 42
    assert err.partial["mti"] == "0200"
    assert err.partial[11] == "000002"
    assert err.partial[41] == "T0000001"
    assert err.offset == len(raw) - 15
    assert "DE42" in str(err)


def test_bytes_left_over_are_refused() -> None:
    with pytest.raises(DecodeError, match="left over"):
        ASCII.decode(ascii_earn() + b"X")


def test_non_digit_in_numeric_field() -> None:
    raw = bytearray(ascii_earn())
    pos = raw.index(b"000002")  # DE11
    raw[pos] = ord("A")
    with pytest.raises(DecodeError) as info:
        ASCII.decode(bytes(raw))
    assert info.value.field == 11
    assert info.value.offset == pos


def test_bcd_nibble_above_nine_is_refused() -> None:
    msg = Message(EARN.mti, dict(EARN.fields), TPDU)
    raw = bytearray(BCD.encode(msg))
    pos = raw.index(H("000002"))
    raw[pos] = 0x0A
    with pytest.raises(DecodeError, match="BCD") as info:
        BCD.decode(bytes(raw))
    assert info.value.field == 11


def test_bcd_wrong_pad_nibble_is_refused() -> None:
    msg = Message("0200", {3: "310000", 7: "1123093015", 11: "000004",
                           35: "6280001234567893=281210", 41: "T0000001",
                           42: "STORE0000000001"}, TPDU)
    raw = BCD.encode(msg)
    bad = raw.replace(H("D281210F"), H("D2812100"))
    with pytest.raises(DecodeError, match="pad nibble") as info:
        BCD.decode(bad)
    assert info.value.field == 35


def test_length_prefix_above_maximum() -> None:
    raw = ascii_earn().replace(b"166280001234567893", b"206280001234567893")
    with pytest.raises(DecodeError, match="exceeds the maximum") as info:
        ASCII.decode(raw)
    assert info.value.field == 2


def test_length_prefix_not_digits() -> None:
    raw = ascii_earn().replace(b"166280001234567893", b"1x6280001234567893")
    with pytest.raises(DecodeError, match="length prefix"):
        ASCII.decode(raw)


def test_non_printable_text_is_refused() -> None:
    raw = ascii_earn().replace(b"T0000001", b"T000\x00001")
    with pytest.raises(DecodeError) as info:
        ASCII.decode(raw)
    assert info.value.field == 41


def test_invalid_utf8_in_de48() -> None:
    msg = Message("0200", {**EARN.fields, 48: "MS002ab"})
    raw = ASCII.encode(msg).replace(b"MS002ab", b"MS002\xff\xfe")
    with pytest.raises(DecodeError) as info:
        ASCII.decode(raw)
    assert info.value.field == 48


def test_bad_tpdu_and_short_tpdu() -> None:
    raw = BCD.encode(Message(EARN.mti, dict(EARN.fields), TPDU))
    with pytest.raises(DecodeError, match="TPDU"):
        BCD.decode(b"\x61" + raw[1:])
    with pytest.raises(DecodeError, match="TPDU"):
        BCD.decode(raw[:3])


def test_empty_and_tiny_inputs() -> None:
    for raw in (b"", b"0", b"0200", b"0200\x80"):
        with pytest.raises(DecodeError):
            ASCII.decode(raw)


def test_mti_not_digits() -> None:
    with pytest.raises(DecodeError) as info:
        ASCII.decode(b"02X0" + ascii_earn()[4:])
    assert info.value.field == 0
    assert info.value.partial == {}


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({3: "0000000"}, "exceed"),
        ({3: "00A000"}, "not digits"),
        ({3: "٠٠٠٠٠٠"}, "not digits"),  # Arabic-Indic digits are digits to str.isdigit
        ({2: "6" * 20}, "exceeds the maximum"),
        ({41: "T00000001"}, "exceed"),
        ({41: "Té000001"}, "printable ASCII"),
        ({41: b"T0000001"}, "expects str"),
        ({52: "12345678"}, "expects bytes"),
        ({52: b"1234567"}, "exactly 8"),
        ({48: "x" * 1000}, "exceeds the maximum"),
        ({48: "ok\n"}, "control"),
        ({1: b"\x00" * 8}, "computed"),
        ({129: "1"}, "outside"),
        ({35: "6280=12A"}, "digits and '='"),
        ({28: "X100"}, "sign"),
    ],
)
def test_encoder_refuses_bad_values(fields: dict[int, str | bytes], match: str) -> None:
    with pytest.raises(EncodeError, match=match):
        ASCII.encode(Message("0200", {**EARN.fields, **fields}))


def test_encoder_refuses_bad_mti_and_tpdu() -> None:
    with pytest.raises(EncodeError):
        ASCII.encode(Message("200", {}))
    with pytest.raises(EncodeError, match="TPDU"):
        BCD.encode(Message("0200", dict(EARN.fields)))
    with pytest.raises(EncodeError, match="no TPDU"):
        ASCII.encode(Message("0200", dict(EARN.fields), TPDU))


def test_fixed_numeric_is_zero_filled_left_and_text_space_filled_right() -> None:
    raw = ASCII.encode(Message("0800", {7: "1123093015", 11: "7", 41: "T1", 70: "1"}))
    decoded = ASCII.decode(raw)
    assert decoded.fields[11] == "000007"
    assert decoded.fields[41] == "T1      "
    assert decoded.fields[70] == "001"


def test_secondary_bitmap_without_bits_is_accepted_and_kept() -> None:
    raw = b"0800" + H("8220000000800000") + H("0000000000000000") \
        + b"1123093015" + b"000001" + b"T0000001"
    msg = ASCII.decode(raw)
    assert msg.secondary_bitmap is True
    assert 70 not in msg.fields
    assert ASCII.encode(msg) == raw


def test_every_error_is_a_codec_error() -> None:
    assert issubclass(DecodeError, CodecError)
    assert issubclass(EncodeError, CodecError)


def test_fault_in_a_fixed_field_still_yields_de11_and_de41() -> None:
    # DE4 holds a letter; the fields after it are still readable, so a switch can answer 30.
    raw = bytes.fromhex("3032303030200000008000003030303030303030303030303235303030413030"
                        "303130315430303030303031")
    with pytest.raises(DecodeError) as info:
        ASCII.decode(raw)
    err = info.value
    assert (err.field, err.offset) == (4, 18)
    assert err.partial["mti"] == "0200"
    assert err.partial[11] == "000101"
    assert err.partial[41] == "T0000001"


def test_fault_in_a_variable_field_with_a_sound_prefix_still_yields_later_fields() -> None:
    msg = Message(EARN.mti, dict(EARN.fields), TPDU)
    raw = bytearray(BCD.encode(msg))
    pos = raw.index(bytes.fromhex("6280001234567893"))
    raw[pos] = 0x6A  # a hex nibble inside DE2
    with pytest.raises(DecodeError) as info:
        BCD.decode(bytes(raw))
    assert info.value.field == 2
    assert info.value.partial[11] == "000002"
    assert info.value.partial[41] == "T0000001"
