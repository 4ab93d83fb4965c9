"""The text a journal row keeps of a reply and of a decision's detail (docs/switch.md, the
journal's `response` and `detail` columns): JSON, the same for every engine.

A stored reply is re-encoded byte for byte for a retransmission (docs/protocol.md §4), so the
codec keeps every field as it was: text as text, binary fields as `{"b": hex}`.
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable
from typing import Any

from iso8583.message import Message


def _binary(value: object) -> dict[str, str]:
    """A binary field as the journal keeps it: `{"b": hex}` (any other type is an error)."""
    if isinstance(value, bytes):
        return {"b": value.hex()}
    raise TypeError(f"a field of type {type(value).__name__} has no JSON form")


def _encoder(ensure_ascii: bool, default: Callable[[Any], Any] | None) -> Callable[[Any], str]:
    """`json.JSONEncoder(separators=(",", ":"), ensure_ascii=..., default=...).encode`, built
    once: the writer thread encodes a reply and a detail per journal row, and `encode` makes a
    C encoder, a marker dict and a closure per call. The C encoder made here once writes the
    same text; it does not look for reference cycles, which a journal row's reply and detail
    (text, numbers, bytes, lists and dicts the core builds anew) never hold."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the encoder's own method
        return json.JSONEncoder(separators=(",", ":"), ensure_ascii=ensure_ascii,
                                default=default).encode
    quote = json.encoder.encode_basestring_ascii if ensure_ascii \
        else json.encoder.encode_basestring
    encode = make(None, default if default is not None else _no_default, quote, None, ":", ",",
                  False, False, True)

    def encoded(value: Any) -> str:
        return "".join(encode(value, 0))

    return encoded


def _no_default(value: object) -> Any:
    """What `json.JSONEncoder.default` raises for a value JSON cannot hold."""
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


# The encoder writes field numbers (int keys) as their decimal text and hands bytes to
# `_binary`: the text is what a dict of `str(n)` keys gave.
_MESSAGE = _encoder(False, _binary)
_DETAIL = _encoder(True, None)


#: A reply as a batch carries it to the commit (`reply_of`): MTI, TPDU, fields.
Reply = tuple[str, bytes | None, dict[int, str | bytes]]


def message_to_json(msg: Message) -> str:
    return reply_to_json(reply_of(msg))


def reply_of(msg: Message) -> Reply:
    """What `reply_to_json` writes of `msg`: plain data, cheap to hand to the commit process,
    which writes the JSON there (`switch.journal.batch.stored`) and not on the event loop.

    The response code the core sets is a `StrEnum` member, which pickles through its class
    (3.3 against 0.7 µs for a reply's fields, and as much again to read back): it goes as
    its `str`, the same text in the JSON."""
    fields = msg.fields
    code = fields.get(39)
    if code is not None and type(code) is not str and isinstance(code, str):
        fields = {**fields, 39: str.__str__(code)}
    return msg.mti, msg.tpdu, fields


def reply_to_json(reply: Reply) -> str:
    mti, tpdu, fields = reply
    return _MESSAGE({"mti": mti, "tpdu": tpdu.hex() if tpdu else None, "fields": fields})


def message_from_json(text: str) -> Message:
    data = json.loads(text)
    fields: dict[int, str | bytes] = {
        int(k): (bytes.fromhex(v["b"]) if isinstance(v, dict) else v)
        for k, v in data["fields"].items()
    }
    tpdu = bytes.fromhex(data["tpdu"]) if data["tpdu"] else None
    return Message(mti=data["mti"], fields=fields, tpdu=tpdu)


def detail_to_json(detail: dict[str, Any]) -> str | None:
    return _DETAIL(detail) if detail else None


def detail_from_json(text: str | None) -> dict[str, Any]:
    return json.loads(text) if text else {}


def undone(detail: str | None) -> bool:
    """Whether a reversal row's detail says it undid its original (a repeat undoes nothing)."""
    return bool(detail) and bool(detail_from_json(detail).get("undone"))
