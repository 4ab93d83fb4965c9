"""Property tests: round trips for every valid message, and only codec errors on garbage."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iso8583 import CodecError, FieldValue, Message, Profile, available_profiles, load_profile
from iso8583.fields import Amount, Binary, DigitBcd, DigitChars, FieldCodec, Text

PROFILES = {name: load_profile(name) for name in available_profiles()}
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def value_strategy(codec: FieldCodec) -> st.SearchStrategy[FieldValue]:
    """Values that are valid for a field, at full length when the field is fixed."""
    fixed = codec.prefix_digits == 0
    low, high = (codec.length, codec.length) if fixed else (0, codec.length)
    if isinstance(codec, DigitChars | DigitBcd):
        alphabet = "0123456789=" if codec.track2 else "0123456789"
        return st.text(alphabet, min_size=low, max_size=high)
    if isinstance(codec, Amount):
        return st.tuples(st.sampled_from("CD"),
                         st.text("0123456789", min_size=codec.length,
                                 max_size=codec.length)).map("".join)
    if isinstance(codec, Binary):
        return st.binary(min_size=low, max_size=high)
    assert isinstance(codec, Text)
    if codec.charset == "utf-8":
        # byte length must stay within the maximum: draw at most length/4 characters
        chars = st.characters(blacklist_categories=("Cc", "Cs"))
        return st.text(chars, max_size=high // 4)
    printable = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
    if fixed:
        # decoded fixed text keeps its padding: generate full-length values ending non-blank
        return st.text(printable, min_size=low, max_size=high)
    return st.text(printable, min_size=low, max_size=high)


@st.composite
def messages(draw: st.DrawFn, profile: Profile) -> Message:
    numbers = draw(st.sets(st.integers(2, 128), max_size=12))
    fields = {n: draw(value_strategy(profile.field(n))) for n in numbers}
    mti = draw(st.text("0123456789", min_size=4, max_size=4))
    tpdu = b"\x60" + draw(st.binary(min_size=4, max_size=4)) if profile.tpdu_size else None
    return Message(mti, fields, tpdu)


def _roundtrip(profile: Profile, message: Message) -> None:
    raw = profile.encode(message)
    decoded = profile.decode(raw)
    assert decoded.mti == message.mti
    assert decoded.tpdu == message.tpdu
    assert decoded.fields == message.fields
    assert profile.encode(decoded) == raw


@SETTINGS
@given(st.data())
def test_encode_decode_identity_all_profiles(data: st.DataObject) -> None:
    for profile in PROFILES.values():
        _roundtrip(profile, data.draw(messages(profile)))


@SETTINGS
@given(st.data())
def test_decode_encode_reproduces_bytes(data: st.DataObject) -> None:
    for profile in PROFILES.values():
        raw = profile.encode(data.draw(messages(profile)))
        assert profile.encode(profile.decode(raw)) == raw


@SETTINGS
@given(st.data(), st.integers(0, 2**32 - 1))
def test_mutated_frames_raise_only_codec_errors(data: st.DataObject, seed: int) -> None:
    rng = random.Random(seed)
    for profile in PROFILES.values():
        raw = bytearray(profile.encode(data.draw(messages(profile))))
        kind = rng.randrange(4)
        if kind == 0 and raw:
            del raw[rng.randrange(len(raw)):]
        elif kind == 1:
            raw += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
        elif kind == 2 and raw:
            for _ in range(rng.randrange(1, 4)):
                raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
        else:
            raw = bytearray(rng.randbytes(rng.randrange(64)))
        try:
            decoded = profile.decode(bytes(raw))
        except CodecError as exc:
            assert exc.reason
            assert exc.offset is None or 0 <= exc.offset <= len(raw)
        else:
            # whatever decodes must encode back to the very same bytes
            assert profile.encode(decoded) == bytes(raw)


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_codec_errors(raw: bytes) -> None:
    for profile in PROFILES.values():
        try:
            decoded = profile.decode(raw)
        except CodecError as exc:
            assert exc.reason
        else:
            assert profile.encode(decoded) == raw
