"""Framing (PROTOCOL.md §1), DE48/DE54/DE90 helpers (§3, §2), MAC span (§6)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iso8583 import (
    DecodeError,
    EncodeError,
    FrameDecoder,
    FramingError,
    Message,
    frame,
    load_profile,
)
from iso8583.loyalty import (
    AmountEntry,
    OriginalData,
    build_de54,
    build_de90,
    build_tlv,
    parse_de54,
    parse_de90,
    parse_tlv,
)


def test_frame_header_is_big_endian_length() -> None:
    assert frame(b"abc") == b"\x00\x03abc"
    with pytest.raises(EncodeError):
        frame(b"x" * 4097)


def test_decoder_splits_joins_and_drops_keepalives() -> None:
    dec = FrameDecoder()
    stream = frame(b"one") + b"\x00\x00" + frame(b"two") + frame(b"three")
    out: list[bytes] = []
    for i in range(len(stream)):
        dec.feed(stream[i:i + 1])
        out.extend(dec.frames())
    assert out == [b"one", b"two", b"three"]
    assert dec.keepalives == 1
    assert dec.buffered == 0


def test_decoder_refuses_oversized_header_before_the_body_arrives() -> None:
    dec = FrameDecoder()
    dec.feed(b"\x10\x01")
    with pytest.raises(FramingError, match="4097"):
        list(dec.frames())
    ok = FrameDecoder()
    ok.feed(b"\x10\x00" + b"x" * 4096)
    assert [len(f) for f in ok.frames()] == [4096]


@given(st.lists(st.binary(min_size=0, max_size=300), max_size=20), st.integers(1, 50))
def test_decoder_any_chunking(payloads: list[bytes], chunk: int) -> None:
    stream = b"".join(frame(p) for p in payloads)
    dec = FrameDecoder()
    got: list[bytes] = []
    for i in range(0, len(stream), chunk):
        dec.feed(stream[i:i + chunk])
        got.extend(dec.frames())
    assert got == [p for p in payloads if p]
    assert dec.keepalives == sum(1 for p in payloads if not p)


def test_tlv_round_trip_counts_utf8_bytes() -> None:
    text = build_tlv([("EP", "15"), ("MS", "امتیاز شما")])
    assert text.startswith("EP00215MS019")
    assert parse_tlv(text) == {"EP": "15", "MS": "امتیاز شما"}


@pytest.mark.parametrize("bad", ["EP0", "EP00", "EP0021", "E!002ab", "EPx02ab", "EP002aEP001b",
                                 "EP002ab" + "EP001c"])
def test_tlv_malformed(bad: str) -> None:
    with pytest.raises(DecodeError) as info:
        parse_tlv(bad)
    assert info.value.field == 48


def test_tlv_build_refuses_bad_tags_and_long_values() -> None:
    with pytest.raises(EncodeError):
        build_tlv({"E": "1"})
    with pytest.raises(EncodeError):
        build_tlv({"MS": "x" * 1000})


def test_de54_entries() -> None:
    entries = [AmountEntry("00", "02", "999", 1500), AmountEntry("60", "02", "364", -20)]
    text = build_de54(entries)
    assert text == "0002999C000000001500" "6002364D000000000020"
    assert parse_de54(text) == entries
    for bad in ("0002999C00000000150", "0002999X000000001500", "00A2999C000000001500"):
        with pytest.raises(DecodeError):
            parse_de54(bad)
    with pytest.raises(EncodeError):
        build_de54([AmountEntry("00", "02", "999", 10**12)])


def test_de90() -> None:
    od = OriginalData("0200", "000123", "1123093015")
    text = build_de90(od)
    assert text == "0200000123112309301500000000000000000000000"[:42]
    assert len(text) == 42
    assert parse_de90(text) == od
    with pytest.raises(DecodeError):
        parse_de90("0200")
    with pytest.raises(EncodeError):
        build_de90(OriginalData("200", "1", "1"))


@pytest.mark.parametrize("name", ["ascii", "bcd"])
def test_mac_span_covers_mti_to_before_mac(name: str) -> None:
    profile = load_profile(name)
    tpdu = b"\x60\x00\x01\x00\x02" if name == "bcd" else None
    msg = Message("0200", {3: "000000", 7: "1123093015", 11: "000001", 41: "T0000001",
                           64: b"\x00" * 8}, tpdu)
    raw = profile.encode(msg)
    span = profile.mac_span(raw)
    assert span == raw[profile.tpdu_size:-8]
    assert span.startswith(b"0200" if name == "ascii" else b"\x02\x00")
    signed = profile.replace_mac(raw, b"ABCDEFGH")
    assert profile.decode(signed).fields[64] == b"ABCDEFGH"
    assert msg.mac_field == 64
    assert Message("0500", {3: "920000", 74: "1"}).mac_field == 128


CODE = st.text(alphabet="0129A \u0665\uff15", max_size=4)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(CODE, CODE, CODE, st.one_of(
    st.integers(-(10**12), 10**12), st.sampled_from([True, False, 10**12 - 1, 1 - 10**12]))),
    max_size=3))
def test_de54_is_its_entries_in_twenty_characters_or_refused(
        rows: list[tuple[str, str, str, int]]) -> None:
    """docs/protocol.md §2, DE54: account type (2 digits), amount type (2), currency (3), C or
    D, the amount (12 digits); anything else is refused."""
    def ok(text: str, size: int) -> bool:
        return len(text) == size and all(c in "0123456789" for c in text)

    entries = [AmountEntry(*row) for row in rows]
    if all(ok(a, 2) and ok(t, 2) and ok(c, 3) and abs(n) < 10**12 for a, t, c, n in rows):
        expected = "".join(f"{a}{t}{c}{'D' if n < 0 else 'C'}{abs(n):012d}"
                           for a, t, c, n in rows)
        assert build_de54(entries) == expected
    else:
        with pytest.raises(EncodeError):
            build_de54(entries)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["EP", "MS", "X1", "é1", "A"]),
                       st.text(alphabet="a9 \u0639\u200c", max_size=40).map(lambda t: t * 25),
                       max_size=3))
def test_tlv_is_tag_byte_length_and_value_or_refused(tags: dict[str, str]) -> None:
    """docs/protocol.md §3, DE48: tag (2 ASCII letters or digits), length (3 digits counting
    UTF-8 bytes), value; a value over 999 bytes or a bad tag is refused."""
    def ok(tag: str, value: str) -> bool:
        return len(tag) == 2 and tag.isascii() and tag.isalnum() \
            and len(value.encode("utf-8")) <= 999

    if all(ok(t, v) for t, v in tags.items()):
        expected = "".join(f"{t}{len(v.encode('utf-8')):03d}{v}" for t, v in tags.items())
        assert build_tlv(tags) == expected
        assert build_tlv(list(tags.items())) == expected
    else:
        with pytest.raises(EncodeError):
            build_tlv(tags)
