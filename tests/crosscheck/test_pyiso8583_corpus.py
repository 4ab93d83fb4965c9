"""Our codec against pyiso8583, through the corpus tools/pyiso8583_peer/crosscheck.py wrote.

No pyiso8583 here: the corpus holds its bytes and what it read from ours. For every LPS-87
message in both profiles: our decode of pyiso8583's bytes gives the source message, our encode
of the source gives exactly pyiso8583's bytes, and pyiso8583 read the source back from our
bytes. Bytes pyiso8583 writes but PROTOCOL.md forbids must be refused naming the field.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from iso8583 import DecodeError, Message, load_profile

ROOT = Path(__file__).resolve().parent.parent.parent
CORPUS_PATH = ROOT / "tests" / "vectors" / "pyiso8583_corpus.json"
SOURCE_PATH = ROOT / "tools" / "pyiso8583_peer" / "corpus_messages.py"
CORPUS: dict[str, Any] = json.loads(CORPUS_PATH.read_text(encoding="utf-8"))
MESSAGES: list[dict[str, Any]] = CORPUS["messages"]
REJECTS: list[dict[str, Any]] = CORPUS["rejects"]
NON_ASCII_DE48 = [e for e in MESSAGES if not e["fields"].get("48", "").isascii()]


def _value(raw: Any) -> str | bytes:
    return bytes.fromhex(raw["hex"]) if isinstance(raw, dict) else raw


def _source(entry: dict[str, Any]) -> Message:
    fields = {int(n): _value(v) for n, v in entry["fields"].items()}
    tpdu = bytes.fromhex(entry["tpdu"]) if entry["tpdu"] else None
    return Message(entry["mti"], fields, tpdu)


def _ids(entries: list[dict[str, Any]]) -> list[str]:
    return [f"{e['profile']}/{e['id']}" for e in entries]


def test_corpus_covers_every_message_of_the_protocol() -> None:
    """PROTOCOL.md §4: every MTI and processing code, both profiles, the awkward fields."""
    for profile in ("ascii", "bcd"):
        entries = [e for e in MESSAGES if e["profile"] == profile]
        requests = {(e["mti"], e["fields"].get("3") or e["fields"].get("70")) for e in entries}
        for code in ("000000", "900000", "310000", "200000", "210060", "006000", "930000"):
            assert ("0200", code) in requests and ("0210", code) in requests
        for mti in ("0220", "0230", "0400", "0401", "0410", "0420", "0421", "0430", "0500",
                    "0510"):
            assert mti in {m for m, _ in requests}, mti
        for code in ("001", "002", "101", "301"):
            assert ("0800", code) in requests and ("0810", code) in requests
        tracks = [e["fields"]["35"] for e in entries if "35" in e["fields"]]
        assert {len(t) % 2 for t in tracks} == {0, 1}
        assert any("52" in e["fields"] for e in entries)
        assert any("128" in e["fields"] and "74" in e["fields"] for e in entries)
        assert any("90" in e["fields"] for e in entries)
        persian = [e["fields"]["48"] for e in entries if not e["fields"].get("48", "").isascii()]
        assert persian and any("\u200c" in text for text in persian)
        key_exchange = next(e for e in entries if e["id"] == "0810-101-key-exchange")
        assert all(tag in key_exchange["fields"]["48"] for tag in ("MK", "MV", "PK", "PV"))


def test_corpus_is_generated_from_the_current_message_list() -> None:
    """The JSON matches tools/pyiso8583_peer/corpus_messages.py (stdlib only, so importable
    here): editing the messages without rerunning crosscheck.py fails."""
    spec = importlib.util.spec_from_file_location("lps_peer_corpus_messages", SOURCE_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = [(e["profile"], e["id"], e["mti"], e["tpdu"], e["fields"])
                for e in module.corpus()]
    recorded = [(e["profile"], e["id"], e["mti"], _source(e).tpdu, _source(e).fields)
                for e in MESSAGES]
    assert recorded == expected
    assert CORPUS["bench_ids"] == list(module.BENCH_IDS)


@pytest.mark.parametrize("entry", MESSAGES, ids=_ids(MESSAGES))
def test_our_decode_of_pyiso8583_bytes_gives_the_source(entry: dict[str, Any]) -> None:
    profile = load_profile(entry["profile"])
    decoded = profile.decode(bytes.fromhex(entry["pyiso8583_wire"]))
    source = _source(entry)
    assert decoded.mti == source.mti
    assert decoded.tpdu == source.tpdu
    assert decoded.fields == source.fields


@pytest.mark.parametrize("entry", MESSAGES, ids=_ids(MESSAGES))
def test_our_encode_gives_pyiso8583_bytes(entry: dict[str, Any]) -> None:
    profile = load_profile(entry["profile"])
    assert profile.encode(_source(entry)).hex().upper() == entry["pyiso8583_wire"]


@pytest.mark.parametrize("entry", MESSAGES, ids=_ids(MESSAGES))
def test_pyiso8583_read_the_source_from_our_bytes(entry: dict[str, Any]) -> None:
    """What pyiso8583 decoded from our bytes (recorded) is the source, read as documented:
    `b` fields as hex, bcd DE35 with D for "="; and those bytes are still what we write."""
    assert "lps_error" not in entry, entry.get("lps_error")
    source = _source(entry)
    assert load_profile(entry["profile"]).encode(source).hex().upper() == entry["lps_wire"]
    seen = dict(entry["pyiso8583_decoded_lps"])
    assert seen.pop("t") == source.mti
    if entry["profile"] == "bcd":
        assert source.tpdu is not None
        assert seen.pop("h") == source.tpdu.hex().upper()
    seen.pop("p")
    secondary = seen.pop("1", None)
    assert (secondary is not None) == any(n > 64 for n in source.fields)
    expected: dict[str, str] = {}
    for number, value in source.fields.items():
        if isinstance(value, bytes):
            expected[str(number)] = value.hex().upper()
        elif number == 35 and entry["profile"] == "bcd":
            expected[str(number)] = value.replace("=", "D")
        else:
            expected[str(number)] = value
    assert seen == expected


@pytest.mark.parametrize("entry", NON_ASCII_DE48, ids=_ids(NON_ASCII_DE48))
def test_de48_length_counts_utf8_bytes(entry: dict[str, Any]) -> None:
    """PROTOCOL.md §3: DE48's LLL counts bytes, not characters (checked on the raw wire)."""
    text: str = entry["fields"]["48"]
    body = text.encode("utf-8")
    assert len(body) != len(text)
    if entry["profile"] == "ascii":
        prefix = f"{len(body):03d}".encode("ascii")
    else:
        prefix = bytes.fromhex(f"{len(body):04d}")
    for wire in (entry["pyiso8583_wire"], entry["lps_wire"]):
        assert prefix + body in bytes.fromhex(wire)


@pytest.mark.parametrize("case", REJECTS, ids=_ids(REJECTS))
def test_bytes_the_protocol_forbids_are_refused(case: dict[str, Any]) -> None:
    raw = bytes.fromhex(case["pyiso8583_wire"])
    with pytest.raises(DecodeError) as caught:
        load_profile(case["profile"]).decode(raw)
    error = caught.value
    assert error.field == case["field"], (error, case["why"])
    assert error.reason
    assert error.offset is not None and 0 <= error.offset < len(raw)
    assert error.partial.get("mti") in ("0200", "0210")
