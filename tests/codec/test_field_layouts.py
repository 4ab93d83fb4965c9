"""One field's bytes, written by hand from the wire rules, against the field's own layout.

docs/protocol.md §1: in the `ascii` profile `n` fields are ASCII digits, LL/LLL lengths 2/3
ASCII digits, `an`/`ans` ASCII space-filled right; in the `bcd` profile `n` fields are packed
BCD with an odd count padded with a 0 nibble on the left, LL/LLL lengths 1/2 bytes of packed
BCD, counting digits for `n`/`z` and bytes for the rest, and DE35 one nibble a character, `=`
as D, an odd count right-padded with F. schemas/profiles/iso87b.toml pads DE2 on the right with
0. A profile's `charset` writes the characters of its numbers, lengths and text
(`cp500`, EBCDIC, below). docs/codec-api.md: a fixed `n` value shorter than its field is
zero-filled left, a longer one refused; a fixed `an`/`ans` value space-filled right; `decode`
raises only `DecodeError`, `encode` only `EncodeError`, each naming the field.

A field is read from where it starts to where its bytes end, whatever comes before or after it
in the message, so each value is read back from every place in runs of copies of itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from iso8583 import DecodeError, EncodeError, Message, load_profile
from iso8583.fields import FieldCodec
from iso8583.profile import SCHEMA_DIR, Profile

H = bytes.fromhex
PAN19 = "6280001234567890123"


def ebc(text: str) -> bytes:
    """Text in EBCDIC (code page 500): the digits are 0xF0-0xF9."""
    return text.encode("cp500")


@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Profile]:
    """The shipped profiles, and two EBCDIC ones a deployment may write: numbers as characters,
    and numbers in packed BCD with character lengths (DE22 padded on the right)."""
    folder = tmp_path_factory.mktemp("profiles")
    head = f'dictionary = "{SCHEMA_DIR / "iso8583_1987.toml"}"\ncharset = "cp500"\n'
    (folder / "ebcdic.toml").write_text(
        'name = "ebcdic"\n' + head + 'mti = "chars"\nbitmap = "binary"\nlength_prefix = "chars"\n'
        '[types.n]\nencoding = "chars"\n[types.z]\nencoding = "chars"\n'
        '[types."x+n"]\nencoding = "chars"\n[types.b]\nencoding = "binary"\n')
    (folder / "ebcdic_bcd.toml").write_text(
        'name = "ebcdic_bcd"\n' + head + 'mti = "bcd"\nbitmap = "binary"\n'
        'length_prefix = "chars"\n[types.n]\nencoding = "bcd"\n[types.z]\nencoding = "bcd"\n'
        'pad = "right"\npad_nibble = "F"\n[types."x+n"]\nencoding = "bcd"\n'
        '[types.b]\nencoding = "binary"\n[fields.22]\npad = "right"\n')
    shipped = {name: load_profile(name) for name in ("ascii", "bcd", "iso87b")}
    return shipped | {name: load_profile(folder / f"{name}.toml")
                      for name in ("ebcdic", "ebcdic_bcd")}


def _digit_cases() -> Iterator[tuple[str, int, str, bytes]]:
    """DE2 (n ..19 LLVAR) at every length it may have, in each way of writing it."""
    for size in range(20):
        pan = PAN19[:size]
        odd = "0" if size & 1 else ""
        yield "ascii", 2, pan, f"{size:02d}".encode() + pan.encode()
        yield "bcd", 2, pan, H(f"{size:02d}" + odd + pan)
        yield "iso87b", 2, pan, H(f"{size:02d}" + pan + odd)
        yield "ebcdic", 2, pan, ebc(f"{size:02d}" + pan)
        yield "ebcdic_bcd", 2, pan, ebc(f"{size:02d}") + H(odd + pan)


TRACK = "6280001234567895=2612"
CASES = [
    *_digit_cases(),
    # fixed `n`
    ("ascii", 3, "000150", b"000150"),
    ("ascii", 22, "021", b"021"),
    ("bcd", 3, "000150", H("000150")),
    ("bcd", 22, "021", H("0021")),
    ("ebcdic", 3, "000150", ebc("000150")),
    ("ebcdic_bcd", 22, "021", H("0210")),
    # `z`: a track
    ("ascii", 35, TRACK, b"21" + TRACK.encode()),
    ("ascii", 35, "=", b"01="),
    ("ascii", 35, "1" * 37, b"37" + b"1" * 37),
    ("bcd", 35, TRACK, H("21" "6280001234567895D2612F")),
    ("bcd", 35, "1" * 37, H("37" + "1" * 37 + "F")),
    ("ebcdic", 35, TRACK, ebc("21" + TRACK)),
    ("ebcdic_bcd", 35, TRACK, ebc("21") + H("6280001234567895D2612F")),
    # `an`/`ans`, fixed and LLLVAR
    ("ascii", 41, "T0000001", b"T0000001"),
    ("ascii", 41, "T1      ", b"T1      "),
    ("bcd", 41, "T0000001", b"T0000001"),
    ("ebcdic", 41, "T0000001", ebc("T0000001")),
    ("ascii", 54, "", b"000"),
    ("ascii", 54, "1002364C000000001000", b"020" b"1002364C000000001000"),
    ("ascii", 54, "A b~" * 30, b"120" + b"A b~" * 30),
    ("ascii", 62, "000123", b"006000123"),
    ("ascii", 62, "9" * 999, b"999" + b"9" * 999),
    ("bcd", 54, "", H("0000")),
    ("bcd", 54, "1002364C000000001000", H("0020") + b"1002364C000000001000"),
    ("bcd", 62, "000123", H("0006") + b"000123"),
    ("bcd", 62, "9" * 999, H("0999") + b"9" * 999),
    ("ebcdic", 62, "000123", ebc("006000123")),
    ("ebcdic", 54, "", ebc("000")),
    # DE48: UTF-8, the length counts bytes
    ("ascii", 48, "سلام", b"008" + "سلام".encode()),
    ("bcd", 48, "سلام", H("0008") + "سلام".encode()),
]


def _ids(case: tuple[str, int, str, bytes]) -> str:
    return f"{case[0]}-DE{case[1]}-{len(case[2])}"


def _numbered(cases: Sequence[tuple[Any, ...]]) -> list[str]:
    """Plain ASCII test ids (mutmut hands them back to pytest by name)."""
    return [f"{case[0]}-DE{case[1]}-{index}" for index, case in enumerate(cases)]


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_a_value_is_written_as_the_rules_lay_it_out(
        profiles: dict[str, Profile], case: tuple[str, int, str, bytes]) -> None:
    name, number, value, wire = case
    codec = profiles[name].field(number)
    assert codec.encode(value) == wire
    assert codec.build(value) == wire


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_a_value_is_read_from_wherever_it_sits(
        profiles: dict[str, Profile], case: tuple[str, int, str, bytes]) -> None:
    name, number, value, wire = case
    codec = profiles[name].field(number)
    width = len(wire)
    assert codec.parse(wire) == value
    runs = [(1, cut) for cut in range(width + 1)] + [(2, 0), (2, 1), (3, 0), (3, width - 1)]
    for copies, cut in runs:
        buf = wire * copies + wire[:cut]
        for index in range(copies):
            assert codec.decode(buf, index * width) == (value, (index + 1) * width), (
                copies, cut, index)


FILLED = [
    ("ascii", 3, "150", b"000150"),
    ("ascii", 3, "", b"000000"),
    ("bcd", 3, "150", H("000150")),
    ("bcd", 22, "21", H("0021")),
    ("ebcdic", 3, "150", ebc("000150")),
    ("ebcdic_bcd", 22, "21", H("0210")),
    ("ascii", 41, "T1", b"T1      "),
    ("ascii", 41, "", b"        "),
    ("bcd", 41, "T1", b"T1      "),
    ("ebcdic", 41, "T1", ebc("T1      ")),
]


@pytest.mark.parametrize("case", FILLED, ids=_ids)
def test_a_short_fixed_value_is_filled(
        profiles: dict[str, Profile], case: tuple[str, int, str, bytes]) -> None:
    """Zeros on the left of a number, spaces on the right of text (docs/codec-api.md)."""
    name, number, value, wire = case
    assert profiles[name].field(number).encode(value) == wire


def _refused(codec: FieldCodec, buf: bytes) -> None:
    with pytest.raises(DecodeError) as refused:
        codec.decode(buf, 0)
    assert refused.value.field == codec.number, buf


#: (profile, field, how a length `n` of `w` digits is written, a unit of body)
Variable = tuple[str, int, Callable[[int, int], bytes], bytes]
VARIABLE: list[Variable] = [
    ("ascii", 2, lambda n, w: f"{n:0{w}d}".encode(), b"1"),
    ("ascii", 35, lambda n, w: f"{n:0{w}d}".encode(), b"1"),
    ("ascii", 54, lambda n, w: f"{n:0{w}d}".encode(), b"A"),
    ("bcd", 2, lambda n, w: H(f"{n:0{w + (w & 1)}d}"), b"\x01"),
    ("bcd", 35, lambda n, w: H(f"{n:0{w + (w & 1)}d}"), b"\x01"),
    ("bcd", 54, lambda n, w: H(f"{n:0{w + (w & 1)}d}"), b"A"),
    ("iso87b", 2, lambda n, w: H(f"{n:0{w + (w & 1)}d}"), b"\x10"),
    ("ebcdic", 2, lambda n, w: ebc(f"{n:0{w}d}"), ebc("1")),
    ("ebcdic", 54, lambda n, w: ebc(f"{n:0{w}d}"), ebc("A")),
    ("ebcdic_bcd", 2, lambda n, w: ebc(f"{n:0{w}d}"), b"\x01"),
]


@pytest.mark.parametrize("case", VARIABLE, ids=lambda c: f"{c[0]}-DE{c[1]}")
def test_every_length_above_the_maximum_is_refused(
        profiles: dict[str, Profile], case: Variable) -> None:
    """With more than the maximum's worth of body after it: a length prefix is never read past
    the field's maximum (docs/protocol.md §2: a field whose content breaks its format is a
    format error)."""
    name, number, prefix, unit = case
    codec = profiles[name].field(number)
    body = unit * (codec.length + 100)
    width = codec.prefix_digits
    top = 10 ** (width + (width & 1)) if codec.prefix_encoding == "bcd" else 10 ** width
    for size in range(codec.length + 1, top):
        _refused(codec, prefix(size, width) + body)


@pytest.mark.parametrize("case", VARIABLE, ids=lambda c: f"{c[0]}-DE{c[1]}")
def test_a_length_that_is_not_a_number_is_refused(
        profiles: dict[str, Profile], case: Variable) -> None:
    name, number, _prefix, unit = case
    codec = profiles[name].field(number)
    body = unit * 2000
    if codec.prefix_encoding == "bcd":
        bad = [b"\x1a", b"\xa1", b"\x0f", b"\xf0"] if codec.prefix_digits == 2 else [
            b"\x00\x1a", b"\x0a\x01", b"\xf0\x01", b"\x00\x0f"]
    elif codec.charset == "ascii":
        bad = [b"1A", b" 5", b"5 ", b"+5", b"-1", b"\xb2\xb2", b"1\x00"]
        bad = [raw + raw[-1:] for raw in bad] if codec.prefix_digits == 3 else bad
    else:  # EBCDIC: ASCII digits are other characters there
        bad = [ebc("1A"), ebc(" 5"), b"05", b"\x30\x35", ebc("+5")]
        bad = [raw + raw[-1:] for raw in bad] if codec.prefix_digits == 3 else bad
    for raw in bad:
        _refused(codec, raw + body)


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_a_message_that_ends_inside_a_field_is_refused(
        profiles: dict[str, Profile], case: tuple[str, int, str, bytes]) -> None:
    """Inside its length or inside its body: never a shorter value than announced."""
    name, number, _value, wire = case
    codec = profiles[name].field(number)
    for cut in range(len(wire)):
        _refused(codec, wire[:cut])


BAD_BODIES = [
    ("ascii", 2, b"05" b"12A45"),
    ("ascii", 2, b"05" b"12 45"),
    ("ascii", 2, b"05" b"\xb2\xb2345"),
    ("ascii", 3, b"12A456"),
    ("ascii", 3, b"12345 "),
    ("ascii", 35, b"05" b"12A45"),
    ("ascii", 54, b"005" b"ab\x01cd"),
    ("ascii", 54, b"005" b"ab\xe9cd"),
    ("ascii", 41, b"T\x000000001"),
    ("ascii", 41, b"T000000\x7f"),
    ("ascii", 48, b"005" b"ab\x01cd"),
    ("ascii", 48, b"002" b"\xd8\xd8"),
    ("bcd", 62, H("0005") + b"ab\x01cd"),
    ("bcd", 41, b"T\x000000001"),
    ("ebcdic", 3, b"000150"),
    ("ebcdic", 2, ebc("05") + b"12345"),
    ("ebcdic", 2, ebc("05") + ebc("12A45")),
    ("ebcdic", 35, ebc("05") + ebc("12A45")),
]


@pytest.mark.parametrize("case", BAD_BODIES, ids=_numbered(BAD_BODIES))
def test_a_body_that_breaks_its_format_is_refused(
        profiles: dict[str, Profile], case: tuple[str, int, bytes]) -> None:
    name, number, buf = case
    _refused(profiles[name].field(number), buf)


WRONG_VALUES: list[tuple[str, int, object]] = [
    *((name, 2, value) for name in ("ascii", "bcd", "iso87b", "ebcdic", "ebcdic_bcd")
      for value in ("6" * 20, "12A", "١٢٣", "²", "５", " 12", 123, b"123", None)),
    *((name, 3, value) for name in ("ascii", "bcd", "ebcdic")
      for value in ("1234567", "12A", "١٢٣", 123, b"123")),
    *((name, 35, value) for name in ("ascii", "bcd", "ebcdic")
      for value in ("1" * 38, "12A=4", 123, b"12=4")),
    *((name, 41, value) for name in ("ascii", "bcd", "ebcdic")
      for value in ("T00000012", "T\x01", 12, b"T0000001")),
    *((name, 41, "T\u00e9") for name in ("ascii", "bcd")),
    *((name, 54, value) for name in ("ascii", "bcd", "ebcdic")
      for value in ("A" * 121, "A\x01", 12, b"AB")),
    *((name, 54, "A\u00e9") for name in ("ascii", "bcd")),
    ("ascii", 48, "\u0633" * 500),
    ("ascii", 48, "a\x01"),
    ("ascii", 48, b"ab"),
]


@pytest.mark.parametrize("case", WRONG_VALUES, ids=_numbered(WRONG_VALUES))
def test_a_value_that_breaks_its_format_is_refused(
        profiles: dict[str, Profile], case: tuple[str, int, object]) -> None:
    """Too long for the field, not ASCII digits (docs/codec-api.md: `'²'`, `'٥'` and
    full-width digits are refused), not printable, or not a string at all."""
    name, number, value = case
    codec = profiles[name].field(number)
    with pytest.raises(EncodeError) as refused:
        codec.encode(value)  # type: ignore[arg-type]
    assert refused.value.field == number


#: Where DE2 starts in a message without a secondary bitmap: the TPDU, the MTI (4 ASCII
#: digits or 2 bytes of BCD) and the primary bitmap (docs/protocol.md §1).
DE2_AT = {"ascii": 4 + 8, "bcd": 5 + 2 + 8, "iso87b": 2 + 8}


@pytest.mark.parametrize("name", ["ascii", "bcd", "iso87b"])
def test_a_fault_inside_a_card_number_of_sound_length_still_yields_de11_and_de41(
        profiles: dict[str, Profile], name: str) -> None:
    """docs/protocol.md §2: a field whose content breaks its format gets `30` when the MTI,
    DE11 and DE41 could be read; docs/codec-api.md: `partial` holds them. A sound length says
    where DE2 ends, at every length up to its maximum, so the fields after it are read on."""
    profile = profiles[name]
    tpdu = H("6000010002") if profile.tpdu_size else None
    codec = profile.field(2)
    for size in range(1, 20):
        pan = PAN19[:size]
        message = Message("0200", {2: pan, 3: "000000", 11: "000002", 41: "T0000001"}, tpdu)
        raw = bytearray(profile.encode(message))
        end = DE2_AT[name] + codec.prefix_size + codec.body_size(size)
        raw[end - 1] = 0xAA if codec.prefix_encoding == "bcd" else ord("A")
        with pytest.raises(DecodeError) as refused:
            profile.decode(bytes(raw))
        assert refused.value.field == 2, size
        assert (refused.value.partial[11], refused.value.partial[41]) == (
            "000002", "T0000001"), size
