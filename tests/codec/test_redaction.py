"""Codec errors never carry card data or key material in clear (iso8583/redact.py).

The switch logs `error=<the exception>` for every frame it cannot decode, so the exception's
text is a log line: for malformed DE2 and DE35 of every kind, in every profile, `str(exc)`,
`repr(exc)`, the switch's log line and the masked `partial` hold no run of the card's digits
longer than the first 6 that the mask shows (docs/protocol.md §6).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iso8583 import CodecError, DecodeError, EncodeError, Message, Profile, load_profile
from iso8583.loyalty import build_tlv, parse_tlv
from iso8583.redact import CARD_FIELDS, SECRET_FIELDS, mask_card, redact
from switch.server import kv

PROFILES = {name: load_profile(name) for name in ("ascii", "bcd", "iso87a", "iso87b")}
TPDU = bytes.fromhex("6000010002")
MASK_RUN = 6  # first 6 + last 4: no longer run of the card's digits may show
SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
# Fields around the card field; few digits, so no run in them can pass for the card's.
OTHER = {3: "000000", 41: "LPSTERMA", 42: "STOREABCDEFGHIJ"}


def longest_run(text: str, secret: str) -> int:
    """Length of the longest substring of `secret` that appears in `text`."""
    best = 0
    for start in range(len(secret)):
        end = start + best + 1
        while end <= len(secret) and secret[start:end] in text:
            best, end = end - start, end + 1
    return best


def assert_no_card_data(exc: CodecError, card: str) -> None:
    """`card` (a PAN or a track) shows in no form a log could take, beyond the mask."""
    masked_partial = {k: v for k, v in exc.partial.items() if k in CARD_FIELDS}
    views = [str(exc), repr(exc), kv("format_error", mti="0200", stan="000002", tid="LPSTERMA",
                                     error=exc), repr(masked_partial)]
    assert not SECRET_FIELDS - CARD_FIELDS & set(exc.partial)
    for segment in card.replace("^", "=").split("="):
        if len(segment) > MASK_RUN:
            for view in views:
                assert longest_run(view, segment) <= MASK_RUN, (view, card)


@dataclass(frozen=True)
class Case:
    profile: str
    field: int
    value: str
    kind: str
    where: int  # a position inside the value or the field body
    byte: int


def card_values(field: int) -> st.SearchStrategy[str]:
    pans = st.text("0123456789", min_size=13, max_size=19)
    if field == 2:
        return pans
    return st.tuples(pans, st.text("0123456789", min_size=7, max_size=17)).map(
        lambda parts: f"{parts[0]}={parts[1]}"[:37])


@st.composite
def cases(draw: st.DrawFn) -> Case:
    profile = draw(st.sampled_from(sorted(PROFILES)))
    field = draw(st.sampled_from([2, 35]))
    value = draw(card_values(field))
    kinds = ["bad-char", "truncate", "too-long", "encode-bad-char", "encode-too-long",
             "bad-separator"]
    if PROFILES[profile].field(field).__class__.__name__ == "DigitBcd":
        kinds += ["bad-nibble", "bad-pad"] if len(value) % 2 else ["bad-nibble"]
    kind = draw(st.sampled_from(kinds))
    where = draw(st.integers(min_value=0, max_value=len(value) - 1))
    byte = draw(st.sampled_from(
        [ord("A"), ord("^"), ord(" "), ord("D"), 0x00, 0xB2, 0xD9, 0xEF, 0xFF, ord("/")]))
    return Case(profile, field, value, kind, where, byte)


def message(profile: Profile, fields: dict[int, str | bytes]) -> Message:
    return Message("0200", dict(sorted(fields.items())), TPDU if profile.tpdu_size else None)


def field_offset(profile: Profile, number: int, fields: dict[int, str | bytes]) -> int:
    """Where field `number` starts in the encoded message (all fields below 65)."""
    before = {n: v for n, v in fields.items() if n < number}
    return len(profile.encode(message(profile, before)))


def mutate(case: Case) -> tuple[Profile, Message | bytes]:
    """The malformed input of `case`: a message to encode, or bytes to decode."""
    profile = PROFILES[case.profile]
    codec = profile.field(case.field)
    fields: dict[int, str | bytes] = {**OTHER, case.field: case.value}
    if case.kind == "encode-bad-char":
        bad = chr(case.byte) if case.byte < 0x80 and chr(case.byte) not in "D" else "٥"
        text = case.value[:case.where] + bad + case.value[case.where + 1:]
        return profile, message(profile, {**fields, case.field: text})
    if case.kind == "encode-too-long":
        return profile, message(profile, {**fields, case.field: case.value + "1" * 40})
    raw = bytearray(profile.encode(message(profile, fields)))
    start = field_offset(profile, case.field, fields)
    body = start + codec.prefix_size
    end = start + len(codec.encode(case.value))
    if case.kind == "truncate":
        return profile, bytes(raw[:body + case.where % max(1, end - body)])
    if case.kind == "too-long":
        units = codec.length + 1 + case.where
        longer = codec._write_prefix(min(units, 10 ** codec.prefix_digits - 1))
        return profile, bytes(raw[:start] + longer + raw[body:] + b"0" * 64)
    if case.kind == "bad-separator":
        if case.field == 35:
            sep = raw.index(b"=", body) if codec.__class__.__name__ == "DigitChars" else None
            if sep is not None:
                raw[sep] = ord("^")
            else:  # BCD: "=" is the nibble D; make it E
                text = raw[body:end].hex()
                raw[body:end] = bytes.fromhex(text.replace("d", "e", 1))
        else:
            pos = body + case.where % (end - body)
            raw[pos] = ord("=") if codec.__class__.__name__ == "DigitChars" else 0xDD
        return profile, bytes(raw)
    if case.kind == "bad-nibble":
        pos = body + case.where % (end - body)
        raw[pos] = (raw[pos] & 0xF0) | 0x0B
        return profile, bytes(raw)
    if case.kind == "bad-pad":
        text = raw[body:end].hex()
        pad_left = getattr(codec, "pad_left", True)
        wrong = "7" if text[0 if pad_left else -1] != "7" else "8"
        text = wrong + text[1:] if pad_left else text[:-1] + wrong
        raw[body:end] = bytes.fromhex(text)
        return profile, bytes(raw)
    pos = body + case.where % (end - body)  # bad-char: one byte of the body replaced
    raw[pos] = case.byte if codec.__class__.__name__ == "DigitChars" else 0xAB
    return profile, bytes(raw)


@SETTINGS
@given(cases())
def test_malformed_card_fields_never_show_the_card(case: Case) -> None:
    profile, bad = mutate(case)
    with pytest.raises(CodecError) as info:
        if isinstance(bad, Message):
            profile.encode(bad)
        else:
            profile.decode(bad)
    assert isinstance(info.value, DecodeError | EncodeError)
    assert_no_card_data(info.value, case.value)


@pytest.mark.parametrize("profile_name", sorted(PROFILES))
def test_a_field_after_the_card_keeps_the_card_masked_in_partial(profile_name: str) -> None:
    profile = PROFILES[profile_name]
    pan, track = "6280001234567895", "6280001234567895=29121010000012345"
    fields: dict[int, str | bytes] = {2: pan, 11: "000002", 35: track, 41: "LPSTERMA",
                                      52: bytes(range(8))}
    raw = profile.encode(message(profile, fields))
    with pytest.raises(DecodeError) as info:
        profile.decode(raw[:-3])  # cut inside DE52, the last field
    partial = info.value.partial
    assert partial[2] == "628000******7895"
    assert partial[35] == "628000******7895"  # the track keeps only its masked PAN
    assert partial[11] == "000002" and partial[41] == "LPSTERMA"
    assert 52 not in partial
    assert_no_card_data(info.value, track)


def test_partial_is_masked_whoever_sets_it() -> None:
    exc = DecodeError("x")
    exc.partial = {"mti": "0200", 2: "6280001234567895", 45: "B6280001234567895^DOE/J^2912",
                   52: b"\x01" * 8, 48: "MK032" + "AB" * 16, 64: b"\x02" * 8, 11: "000001"}
    assert exc.partial == {"mti": "0200", 2: "628000******7895", 45: "628000******7895",
                           11: "000001"}


KEY = "0123456789ABCDEFFEDCBA9876543210"


def test_key_material_is_never_quoted() -> None:
    iso87a = PROFILES["iso87a"]
    # DE52 and DE64 as hex characters: a bad character among the PIN block's hex digits.
    for number in (52, 64):
        raw = iso87a.encode(Message("0200", {11: "000001", number: bytes.fromhex(KEY[:16])}))
        bad = raw.replace(KEY[:16].encode(), KEY[:15].encode() + b"g")
        with pytest.raises(DecodeError) as info:
            iso87a.decode(bad)
        assert KEY[:8] not in str(info.value) and KEY[8:16] not in repr(info.value)
        assert "withheld" in str(info.value)
    # DE48 carrying MK with a control character: refused without quoting the key.
    for profile in PROFILES.values():
        de48 = build_tlv({"MK": KEY, "MV": "08D7B4"}) + "\x07"
        msg = message(profile, {11: "000001", 48: de48})
        with pytest.raises(EncodeError) as enc:
            profile.encode(msg)
        assert KEY[:8] not in str(enc.value) and "withheld" in str(enc.value)
    with pytest.raises(DecodeError) as tlv:
        parse_tlv(build_tlv({"MK": KEY})[:-1])
    assert KEY[:8] not in str(tlv.value)


def test_any_card_like_run_in_any_error_is_masked() -> None:
    assert redact("DE62 '6280001234567895' bad") == "DE62 '628000******7895' bad"
    assert redact("typed 6280 0012 3456 7895 here") == "typed 628000******7895 here"
    assert redact("offset 1234, 12345678901 fine") == "offset 1234, 12345678901 fine"
    assert redact("٦٢٨٠٠٠١٢٣٤٥٦٧٨٩٥") == "٦٢٨٠٠٠******٧٨٩٥"
    exc = EncodeError("DE62: value '6280001234567895' is too long", field=62)
    assert "6280001234567895" not in str(exc) + repr(exc)
    assert mask_card("6280001234567895=2912") == "628000******7895"
