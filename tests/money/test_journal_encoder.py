"""The journal's JSON encoder (`switch/journal/codec.py`): a reply's and a detail's text as
`json.JSONEncoder(separators=(",", ":"), ...)` writes it (docs/switch.md, the journal's
`response` and `detail` columns; the text `tests/switch/test_journal_codec.py` pins for
`message_to_json` and `detail_to_json`), read back to the same value.

The codec builds its two encoders once, when it is imported, so a test of `message_to_json`
never runs the code that built them: these tests build each one afresh, as the codec does (a
reply: non-ASCII text kept, binary fields as `{"b": hex}`; a detail: ASCII, nothing but JSON),
with the C accelerator and without it (a Python built without `_json` has
`json.encoder.c_make_encoder = None`), against the standard library's encoder as the oracle.
"""

from __future__ import annotations

import json
import json.encoder
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switch.journal import codec


def binary(value: object) -> dict[str, str]:
    """docs/switch.md: a binary field is kept as `{"b": hex}`."""
    if isinstance(value, bytes):
        return {"b": value.hex()}
    raise TypeError(f"not a field: {type(value).__name__}")


#: (ensure_ascii, default) of the reply's and of the detail's encoder, as the codec makes them.
REPLY = (False, codec._binary)
DETAIL = (True, None)
ORACLE_DEFAULT = {REPLY: binary, DETAIL: None}

#: Values the text depends on: non-ASCII and control characters, quotes, keys that are not
#: text (a reply's fields by number), keys out of order, floats JSON spells its own way.
AWKWARD: list[Any] = [
    {"mti": "0210", "tpdu": None, "fields": {39: "00", 2: "6037990000000001", 11: "000123"}},
    {"b": "\u0639\u0644\u06cc\u200c\u0631\u0636\u0627", "a": "tab\there \"q\" \\ \x00\x1f"},
    {"z": [1, -2, 10**30, 0.1, 1e300, True, False, None], "y": {}, "x": []},
    {2: "two", 1.5: "one and a half", None: "null", False: "false"},
    {"nan": math.nan, "inf": math.inf, "-inf": -math.inf},
    ["\u20ac", "\U0001f600", "\ud800", ""],
    "plain text",
    12345,
    None,
]
#: What a reply holds besides: binary fields, alone or deep in a structure.
AWKWARD_REPLY: list[Any] = [
    *AWKWARD,
    {"mti": "0410", "tpdu": "6000010000", "fields": {52: b"\x00\xff\x10", 55: b"",
                                                       48: "BQ\u0639"}},
    [b"\x01", {"k": [b"\x02\x03"]}],
]

JSONABLE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
              st.text(alphabet="a0 \u0639\u200c\"\\\n\x7f", max_size=6)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.text(alphabet="ab\u0639", max_size=3),
                                  st.integers(0, 200)), inner, max_size=3)),
    max_leaves=10)


def expected(config: tuple[bool, Any], value: Any) -> str:
    ensure_ascii, _ = config
    return json.JSONEncoder(separators=(",", ":"), ensure_ascii=ensure_ascii,
                            default=ORACLE_DEFAULT[config]).encode(value)


def build(config: tuple[bool, Any], accelerated: bool,
          monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], str]:
    """The encoder as the codec builds it, on this Python or on one without `_json`."""
    if not accelerated:
        monkeypatch.setattr(json.encoder, "c_make_encoder", None)
    return codec._encoder(*config)


@pytest.mark.parametrize("accelerated", [True, False], ids=["C", "no C"])
@pytest.mark.parametrize("config", [REPLY, DETAIL], ids=["reply", "detail"])
def test_the_journal_writes_the_standard_compact_text(
        config: tuple[bool, Any], accelerated: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    values = AWKWARD_REPLY if config is REPLY else AWKWARD
    wanted = [expected(config, v) for v in values]
    encode = build(config, accelerated, monkeypatch)
    assert [encode(v) for v in values] == wanted
    # A value written twice is the same text: nothing of one call stays for the next.
    assert [encode(v) for v in values] == wanted


@settings(max_examples=20, deadline=None)
@given(JSONABLE)
def test_any_detail_is_the_standard_compact_text_and_reads_back(value: Any) -> None:
    text = codec._encoder(*DETAIL)(value)
    assert text == expected(DETAIL, value)
    assert text.isascii()
    assert json.dumps(json.loads(text), separators=(",", ":")) == text


@pytest.mark.parametrize("accelerated", [True, False], ids=["C", "no C"])
@pytest.mark.parametrize("value", [{1, 2}, {"a": [object()]}, {(1, 2): "tuple key"}],
                         ids=["set", "object", "tuple key"])
def test_a_detail_json_cannot_hold_is_refused_as_the_standard_encoder_refuses_it(
        value: Any, accelerated: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TypeError) as wanted:
        expected(DETAIL, value)
    encode = build(DETAIL, accelerated, monkeypatch)
    with pytest.raises(TypeError) as got:
        encode(value)
    assert str(got.value) == str(wanted.value)


@pytest.mark.parametrize("accelerated", [True, False], ids=["C", "no C"])
def test_a_reply_field_neither_text_nor_binary_is_refused(
        accelerated: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    encode = build(REPLY, accelerated, monkeypatch)
    with pytest.raises(TypeError):
        encode({"mti": "0210", "tpdu": None, "fields": {4: 1.5j}})
