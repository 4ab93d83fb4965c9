"""Terminal-side MAC and key unwrapping against the published known-answer vectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from terminal_agent.security import KeyError_, _enc, kcv, parse_key, retail_mac, unwrap

ROOT = Path(__file__).resolve().parents[2]
KAT = json.loads((ROOT / "tests" / "vectors" / "crypto_kat.json").read_text())


def test_kcv_vectors() -> None:
    for case in KAT["tdes_kcv"]["cases"]:
        key = bytes.fromhex(case["key"])
        assert kcv(key, len(case["kcv"]) // 2) == case["kcv"]


def test_retail_mac_vectors() -> None:
    cases = [c for c in KAT["iso9797_alg3_retail_mac"]["cases"] if c["padding"] == 1]
    assert cases
    for case in cases:
        mac = retail_mac(bytes.fromhex(case["key"]), case["data_ascii"].encode())
        assert mac.hex().upper() == case["mac"], case["source"]


def test_unwrap_checks_kcv() -> None:
    tmk = parse_key("0123456789ABCDEFFEDCBA9876543210")
    session = bytes.fromhex("7CA110454A1A6E570131D9619DC1376E")
    wrapped = (_enc(tmk, session[:8]) + _enc(tmk, session[8:])).hex()
    assert unwrap(tmk, wrapped, kcv(session)) == session
    with pytest.raises(KeyError_, match="check value"):
        unwrap(tmk, wrapped, "000000")
    with pytest.raises(KeyError_):
        unwrap(tmk, "ZZ", "000000")
    with pytest.raises(KeyError_):
        parse_key("0123")
