"""The one-pass fast path against the construct definition, on random valid and damaged input.

`Profile.decode`/`encode` try iso8583/fastpath.py first and fall back to the checked path
through the field constructs when it gives up (returns None). Three readers of one frame must
agree: the fast path, the checked path (`Profile._decode_checked`, which words every error) and
the construct stream parse (`profile.struct`, nothing left over): the same message, or a
refusal, which `Profile.decode` raises as the checked path's very `DecodeError`. Writing
likewise: the fast path, and `profile.struct.build` through the field constructs, give the same
bytes or the same error.
"""

from __future__ import annotations

import enum
import io
import json
from pathlib import Path
from typing import Any

import construct
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iso8583 import CodecError, DecodeError, FieldValue, Message, Profile, load_profile
from iso8583.fastpath import MAX_PLANS, FastPath
from iso8583.fields import DigitBcd, DigitChars
from iso8583.profile import available_profiles
from tests.codec.test_properties import messages, value_strategy

PROFILES = {name: load_profile(name) for name in available_profiles()}
LPS87 = ("ascii", "bcd")
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
CORPUS_PATH = Path(__file__).resolve().parents[1] / "vectors" / "pyiso8583_corpus.json"
LPS87_FIELDS = [2, 3, 4, 7, 11, 12, 13, 14, 22, 25, 35, 37, 38, 39, 41, 42, 48, 49, 52, 54, 62,
                64, 70, 74, 75, 76, 77, 86, 87, 88, 89, 90, 128]
# Bytes that break a field in a telling way: digits, '=', pad nibbles, space, controls, high
# bytes, and (as two bytes) a Persian digit and a zero-width non-joiner.
NASTY = [bytes([b]) for b in b"0123456789=DFdf \x00\x1f\x7f\x80\x9f\xff"] + \
    ["۵".encode(), "\u200c".encode()]
NASTY_TEXT = ["٥", "５", "²", "=", " ", "\x00", "\x7f", "\x85", "\u200c", "\ud800", "é", "a", "F"]


class Number(enum.IntEnum):
    STAN = 11


class TextSubclass(str):
    """A str subclass: the constructs take it as the text it holds."""


def fast(profile: Profile) -> FastPath:
    path: FastPath = profile._fast
    return path


def construct_reading(profile: Profile, raw: bytes) -> Message | None:
    """What the construct definition reads from `raw` (None: it refuses)."""
    stream = io.BytesIO(raw)
    try:
        message: Message = profile.struct.parse_stream(stream)
    except (construct.ConstructError, CodecError):
        return None
    return message if stream.tell() == len(raw) else None


def outcome(call: Any, *args: Any) -> Any:
    """A call's result, or its error as (type, text, field, offset, partial)."""
    try:
        return call(*args)
    except CodecError as exc:
        return type(exc), str(exc), exc.field, exc.offset, exc.partial


def same_message(a: Message, b: Message) -> bool:
    return (a.mti, a.fields, a.tpdu, a.secondary_bitmap) == \
        (b.mti, b.fields, b.tpdu, b.secondary_bitmap)


def check_reading(profile: Profile, raw: bytes) -> Message | None:
    """The three readers agree on `raw`; the fast path's message (None: it gave up)."""
    reference = construct_reading(profile, raw)
    quick = fast(profile).decode(raw)
    if reference is None:
        assert quick is None, raw.hex()
        with pytest.raises(DecodeError):
            profile.decode(raw)
    else:
        assert quick is None or same_message(quick, reference), raw.hex()
        assert same_message(profile.decode(raw), reference), raw.hex()
    assert outcome(profile.decode, raw) == outcome(profile._decode_checked, raw)
    return quick


def check_writing(profile: Profile, message: Message) -> bytes | None:
    """The fast path and the construct definition write `message` alike; the fast path's
    bytes (None: it gave up)."""
    reference = outcome(profile.struct.build, message)
    quick = fast(profile).encode(message)
    assert quick is None or quick == reference, message
    assert outcome(profile.encode, message) == reference
    return quick


@st.composite
def lps87_messages(draw: st.DrawFn, profile: Profile) -> Message:
    """Valid messages of the LPS-87 fields with non-empty values (docs/protocol.md §2)."""
    numbers = draw(st.sets(st.sampled_from(LPS87_FIELDS), min_size=1, max_size=16))
    fields: dict[int, FieldValue] = {}
    for number in numbers:
        codec = profile.field(number)
        value = draw(value_strategy(codec).filter(bool))
        fields[number] = value
    tpdu = b"\x60" + draw(st.binary(min_size=4, max_size=4)) if profile.tpdu_size else None
    return Message(draw(st.text("0123456789", min_size=4, max_size=4)), fields, tpdu)


@st.composite
def damaged_frames(draw: st.DrawFn, profile: Profile) -> bytes:
    """A valid frame of `profile` with one to three faults."""
    raw = bytearray(profile.encode(draw(messages(profile))))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["replace", "insert", "delete", "cut", "append", "flip"]))
        at = draw(st.integers(0, max(0, len(raw) - 1)))
        if kind == "replace" and raw:
            raw[at:at + 1] = draw(st.sampled_from(NASTY))
        elif kind == "insert":
            raw[at:at] = draw(st.sampled_from(NASTY))
        elif kind == "delete" and raw:
            del raw[at]
        elif kind == "cut":
            del raw[at:]
        elif kind == "append":
            raw += draw(st.binary(min_size=1, max_size=8))
        elif raw:
            raw[at] ^= 1 << draw(st.integers(0, 7))
    return bytes(raw)


def damaged_value(draw: st.DrawFn, value: Any) -> Any:
    """`value` broken one way, or of the wrong type."""
    if not isinstance(value, str | bytes):  # broken before
        return draw(st.sampled_from(["1", b"1"]))
    if isinstance(value, bytes):
        return draw(st.sampled_from([value[:-1], value + b"\x00", bytearray(value),
                                     memoryview(value), value.hex(), None]))
    at = draw(st.integers(0, len(value)))
    choice = draw(st.sampled_from(["char", "cut", "longer", "empty", "type", "subclass",
                                   "pad"]))
    if choice == "char":
        return value[:at] + draw(st.sampled_from(NASTY_TEXT)) + value[at + 1:]
    if choice == "cut":
        return value[:at]
    if choice == "longer":
        return value + "1" * draw(st.integers(1, 40))
    if choice == "empty":
        return ""
    if choice == "type":
        return draw(st.sampled_from([value.encode(), 7, None, 1.5, [value]]))
    if choice == "subclass":
        return TextSubclass(value)
    return value.rjust(len(value) + 1, "0")


@st.composite
def damaged_messages(draw: st.DrawFn, profile: Profile) -> Message:
    """A valid message of `profile` with one or two faults in its values, keys, MTI or TPDU."""
    message = draw(messages(profile))
    fields: dict[Any, Any] = dict(message.fields)
    mti: Any = message.mti
    tpdu: Any = message.tpdu
    secondary = draw(st.booleans())
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(["value", "value", "value", "key", "mti", "tpdu"]))
        if kind == "value" and fields:
            number = draw(st.sampled_from(sorted(fields, key=repr)))
            fields[number] = damaged_value(draw, fields[number])
        elif kind == "key":
            key = draw(st.sampled_from([0, 1, 129, -2, 11.0, True, Number.STAN, "11"]))
            fields.pop(11, None)
            fields[key] = "000001"
        elif kind == "mti":
            mti = draw(st.sampled_from(["020", "02000", "02X0", "٠٢٠٠", "０２００", 200,
                                        TextSubclass("0200"), b"0200"]))
        else:
            tpdu = draw(st.sampled_from([None, b"", b"\x60\x00\x01", bytearray(b"`\0\1\0\2"),
                                         b"\x60\x00\x01\x00\x02", b"\x61\x00\x01\x00\x02"]))
    return Message(mti, fields, tpdu, secondary)


@SETTINGS
@given(st.data())
def test_valid_messages_read_and_write_alike(data: st.DataObject) -> None:
    for profile in PROFILES.values():
        message = data.draw(messages(profile))
        raw = check_writing(profile, message)
        wire = profile.struct.build(message)
        quick = check_reading(profile, wire)
        # the fast path reads every valid frame itself, in every profile
        assert quick is not None and quick.fields == message.fields
        assert raw is None or raw == wire


@SETTINGS
@given(st.data())
def test_lps87_messages_take_the_fast_path_both_ways(data: st.DataObject) -> None:
    for name in LPS87:
        profile = PROFILES[name]
        message = data.draw(lps87_messages(profile))
        raw = check_writing(profile, message)
        assert raw is not None, message
        assert check_reading(profile, raw) is not None


@SETTINGS
@given(st.data())
def test_damaged_frames_are_refused_alike(data: st.DataObject) -> None:
    for profile in PROFILES.values():
        check_reading(profile, data.draw(damaged_frames(profile)))


@SETTINGS
@given(st.data(), st.binary(max_size=120))
def test_random_bytes_are_refused_alike(data: st.DataObject, tail: bytes) -> None:
    for profile in PROFILES.values():
        head = data.draw(st.sampled_from([b"", b"0200", b"0800\x82", bytes.fromhex("6000010002"),
                                          bytes.fromhex("60000100020200")]))
        check_reading(profile, head + tail)


@SETTINGS
@given(st.data())
def test_damaged_messages_are_refused_alike(data: st.DataObject) -> None:
    for profile in PROFILES.values():
        check_writing(profile, data.draw(damaged_messages(profile)))


def _corpus() -> list[tuple[str, Message, bytes]]:
    corpus = json.loads(CORPUS_PATH.read_text(encoding="utf-8"))
    return [(entry["profile"],
             Message(entry["mti"],
                     {int(n): bytes.fromhex(v["hex"]) if isinstance(v, dict) else v
                      for n, v in entry["fields"].items()},
                     bytes.fromhex(entry["tpdu"]) if entry["tpdu"] else None),
             bytes.fromhex(entry["lps_wire"]))
            for entry in corpus["messages"]]


@pytest.mark.parametrize(("name", "message", "wire"), _corpus(),
                         ids=[f"{p}-{m.mti}-{n}" for n, (p, m, _) in enumerate(_corpus())])
def test_every_lps87_corpus_message_takes_the_fast_path(name: str, message: Message,
                                                        wire: bytes) -> None:
    profile = PROFILES[name]
    quick = fast(profile).decode(wire)
    assert quick is not None and same_message(quick, message)
    assert fast(profile).encode(message) == wire == profile.struct.build(message)


def test_fixed_values_are_filled_as_the_constructs_fill_them() -> None:
    # shorter digits zero-filled left, shorter text space-filled right (docs/codec-api.md)
    for name in LPS87:
        profile = PROFILES[name]
        tpdu = bytes.fromhex("6000010002") if profile.tpdu_size else None
        message = Message("0800", {7: "1123093015", 11: "7", 41: "T1", 70: "1"}, tpdu)
        check_writing(profile, message)
        assert profile.decode(profile.encode(message)).fields == {
            7: "1123093015", 11: "000007", 41: "T1      ", 70: "001"}


def test_a_profile_keeps_a_bounded_number_of_plans() -> None:
    profile = load_profile("iso87a")
    path = FastPath(profile.tpdu_size, profile.mti_codec, profile.bitmap_hex, profile.codecs)
    raw = profile.encode(Message("0800", {7: "1123093015", 11: "000001", 41: "T0000001"}))
    for number in range(MAX_PLANS + 50):
        # a different (unknown to the dictionary or not) bitmap each time
        bitmap = (0x0220000000800000 | (number << 8)).to_bytes(8, "big").hex().upper()
        path.decode(raw[:4] + bitmap.encode() + raw[20:])
    assert len(path._read_plans) == MAX_PLANS
    decoded = path.decode(raw)
    assert decoded is not None and same_message(decoded, profile.decode(raw))


def test_a_refused_key_type_leaves_the_plan_of_its_numbers_alone() -> None:
    profile = PROFILES["ascii"]
    path = FastPath(profile.tpdu_size, profile.mti_codec, profile.bitmap_hex, profile.codecs)
    fields: dict[Any, FieldValue] = {7: "1123093015", 41: "T0000001", 70: "001"}
    odd_keys: tuple[Any, ...] = (11.0, Number.STAN)  # not plain ints, on purpose
    for odd in odd_keys:
        assert path.encode(Message("0800", {**fields, odd: "000001"})) is None
    assert path.encode(Message("0800", {**fields, 11: "000001"})) == profile.struct.build(
        Message("0800", {**fields, 11: "000001"}))


def test_odd_bcd_pad_nibbles_are_checked_as_the_constructs_check_them() -> None:
    profile = PROFILES["bcd"]
    entry = profile.field(22)
    assert isinstance(entry, DigitBcd) and entry.length & 1
    message = Message("0200", {3: "000000", 22: "021", 41: "T0000001"},
                      bytes.fromhex("6000010002"))
    raw = profile.encode(message)
    assert raw.count(bytes.fromhex("0021")) == 1
    for pad in "123456789abcdef":
        bad = raw.replace(bytes.fromhex("0021"), bytes.fromhex(pad + "021"))
        assert check_reading(profile, bad) is None


def test_ascii_profile_reads_digits_as_ascii_only() -> None:
    profile = PROFILES["ascii"]
    assert isinstance(profile.field(11), DigitChars)
    raw = profile.encode(Message("0800", {7: "1123093015", 11: "000001", 41: "T0000001",
                                          70: "001"}))
    for digit in ("²", "٥", "５"):
        bad = raw.replace(b"000001", ("00000" + digit).encode())
        assert check_reading(profile, bad) is None
