"""The request path's quick checks give exactly the answers of the checks they stand in for.

`malformed_field` accepts plain values without asking the codec (switch/core/protocol.py); it
must name the same field as `well_formed` field by field would, and `echoed` must keep exactly
the fields `echoable` keeps, for any value a hostile terminal or a test can put in a `Message`
(docs/protocol.md §2 and §4). `parse_request` leaves `malformed_field` out for what the wire
format's own profile decoded (`wire_checked`): every such message must be well formed.
`request_digest` joins a message's text in one call: it must hash what hashing each part in
turn hashes, the digest a retransmission is recognised by (docs/switch.md, "Idempotency").
"""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from iso8583 import CodecError, FieldValue, Message, load_profile
from switch.core.protocol import (
    ECHO,
    echoable,
    echoed,
    lps87,
    malformed_field,
    well_formed,
    wire_checked,
)
from switch.core.request import request_digest
from tests.codec.test_fastpath import damaged_frames, lps87_messages
from tests.codec.test_properties import messages

NUMBERS = sorted(lps87().fields - {1})

# The alphabets a value is drawn from: digits (ASCII and others), printable ASCII, controls,
# Persian with ZWNJ, surrogates.
TEXT = st.text(alphabet=st.sampled_from(
    [*"0123456789=D Az~", "\x00", "\x07", "\x7f", "\x85", "\u06f5", "\u0665", "\uff15",
                                "\u00b2", "\u0639", "\u200c", "\ud800"]), max_size=45)
LONG = st.builds(lambda c, n: c * n, st.sampled_from(["0", "A", "\u0639"]),
                 st.sampled_from([0, 1, 8, 12, 15, 19, 20, 37, 38, 120, 121, 999, 1000]))
VALUE = st.one_of(TEXT, LONG, st.binary(max_size=10), st.just(8 * b"\x00"),
                  st.integers(), st.none())
# Hence fields typed `dict[int, Any]` below: the checks answer for whatever a `Message` can be
# given at run time, integers and None too, not only the `str | bytes` it declares.


def first_malformed(fields: dict[int, Any]) -> int | None:
    return next((n for n, v in fields.items() if not well_formed(n, v)), None)


@settings(max_examples=1000, deadline=None)
@given(st.dictionaries(st.sampled_from(NUMBERS), VALUE, max_size=6))
def test_malformed_field_names_what_well_formed_refuses_first(fields: dict[int, Any]) -> None:
    assert malformed_field(fields) == first_malformed(fields)


def test_the_plain_values_of_each_kind_are_accepted_and_their_neighbours_are_not() -> None:
    good: dict[int, FieldValue] = {
        2: "6280001234567895", 3: "000000", 4: "000000010000", 7: "1203101010",
        11: "000001", 41: "T1", 42: "STORE 1", 48: "CS005Ali R", 52: 8 * b"\x01",
        62: "000001", 90: 42 * "0"}
    assert malformed_field(good) is None
    for number, bad in ((4, "00000001000\u06f0"), (3, "00000"), (2, 20 * "6"), (41, "T\x07"),
                        (48, "IN003a\x07b"), (52, 7 * b"\x01"), (42, "\u0641"), (7, 10 * "\uff11")):
        assert malformed_field({**good, number: bad}) == number
    # what the codec pads or converts is still asked of it
    persian = "CS015\u0639\u0644\u06cc\u200c\u0631\u0636\u0627"
    assert malformed_field({41: "T1", 48: persian}) is None


@settings(max_examples=1000, deadline=None)
@given(st.dictionaries(st.sampled_from([*ECHO, 37, 48]), VALUE, max_size=8))
def test_echoed_keeps_what_echoable_keeps(fields: dict[int, Any]) -> None:
    expected = {n: fields[n] for n in ECHO
                if fields.get(n) is not None and echoable(n, fields[n])}
    assert echoed(fields) == expected
    assert list(echoed(fields)) == list(expected)


ASCII = load_profile("ascii")


@settings(max_examples=150, deadline=None)
@given(st.one_of(damaged_frames(ASCII), st.builds(ASCII.encode, lps87_messages(ASCII)),
                 st.builds(ASCII.encode, messages(ASCII)), st.binary(max_size=80)))
def test_what_the_wire_profile_decodes_is_well_formed(raw: bytes) -> None:
    try:
        msg = ASCII.decode(raw)
    except CodecError:
        return
    assert malformed_field(msg.fields) is None


def test_only_the_wire_profile_is_taken_as_checked() -> None:
    assert wire_checked(ASCII)
    assert not any(wire_checked(load_profile(name)) for name in ("bcd", "iso87a", "iso87b"))


#: Repeats digest as their originals (docs/protocol.md §4).
REPEATS = {"0401": "0400", "0421": "0420", "0221": "0220"}


def digest_part_by_part(mti: str, fields: dict[int, str | bytes]) -> bytes:
    """The content digest hashed one part at a time: the original's MTI, then each field but
    the MAC (DE64, DE128) in number order as 0x1E, its number, 0x1F, its value in UTF-8."""
    h = hashlib.blake2b(digest_size=16)
    h.update(REPEATS.get(mti, mti).encode("ascii"))
    for number in sorted(set(fields) - {64, 128}):
        value = fields[number]
        h.update(b"\x1e" + str(number).encode("ascii") + b"\x1f")
        h.update(value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass"))
    return h.digest()


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["0200", "0220", "0221", "0400", "0401", "0420", "0421", "0500", "0800"]),
       st.dictionaries(st.integers(2, 128), st.one_of(TEXT, LONG, st.binary(max_size=10)),
                       max_size=12))
def test_request_digest_is_the_digest_of_its_parts(mti: str,
                                                   fields: dict[int, str | bytes]) -> None:
    assert request_digest(Message(mti, fields)) == digest_part_by_part(mti, fields)
    # the same fields in another order, and a MAC added or changed, digest the same
    digest = request_digest(Message(mti, fields))
    where = 64 if all(n <= 64 for n in fields) else 128
    for mac in (8 * b"\x01", "0123456789ABCDEF"):
        again = Message(mti, dict(reversed([*fields.items(), (where, mac)])))
        assert request_digest(again) == digest
