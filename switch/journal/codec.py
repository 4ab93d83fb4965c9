"""The text a journal row keeps of a reply and of a decision's detail (docs/switch.md, the
journal's `response` and `detail` columns): JSON, the same for every engine.

A stored reply is re-encoded byte for byte for a retransmission (docs/protocol.md §4), so the
codec keeps every field as it was: text as text, binary fields as `{"b": hex}`.
"""

from __future__ import annotations

import json
from typing import Any

from iso8583.message import Message


def _binary(value: object) -> dict[str, str]:
    """A binary field as the journal keeps it: `{"b": hex}` (any other type is an error)."""
    if isinstance(value, bytes):
        return {"b": value.hex()}
    raise TypeError(f"a field of type {type(value).__name__} has no JSON form")


# Built once (`json.dumps` builds an encoder per call): the writer thread encodes a reply and
# a detail per journal row. The encoder writes field numbers (int keys) as their decimal
# text and hands bytes to `_binary`: the text is what a dict of `str(n)` keys gave.
_MESSAGE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_binary).encode
_DETAIL = json.JSONEncoder(separators=(",", ":")).encode


def message_to_json(msg: Message) -> str:
    return _MESSAGE({"mti": msg.mti, "tpdu": msg.tpdu.hex() if msg.tpdu else None,
                     "fields": msg.fields})


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
