"""Numbers reaching the terminal agent are ASCII `0-9` only, at every input.

`str.isdigit()` is true for '²', '٥' and '５' and `int()` reads the last two, so a check built
on them lets a port, an amount, a card number or a points count written with them through.
Each input refuses them as it refuses any other non-digit.
"""

from __future__ import annotations

import pytest

from iso8583 import Message
from iso8583.loyalty import build_tlv
from terminal_agent.card.apdu import CardError, luhn_ok, valid_pan
from terminal_agent.card.barcode import parse_scan
from terminal_agent.config import ConfigError, from_mapping
from terminal_agent.ecr.messages import EcrMessageError, parse_request
from terminal_agent.iso import outcome_of

PAN = "6280001234567895"
ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
WIDE = str.maketrans("0123456789", "０１２３４５６７８９")
UNICODE_DIGITS = ["²", "٥", "５"]


def test_the_sample_card_number_is_valid_in_ascii() -> None:
    assert valid_pan(PAN) and luhn_ok(PAN)


@pytest.mark.parametrize("table", [ARABIC, WIDE], ids=["arabic-indic", "full-width"])
def test_card_numbers_in_other_digits_are_not_card_numbers(table: dict[int, str]) -> None:
    other = PAN.translate(table)
    assert not luhn_ok(other) and not valid_pan(other)
    with pytest.raises(CardError):
        parse_scan(other.encode("utf-8") + b"\r\n")


@pytest.mark.parametrize("digit", UNICODE_DIGITS)
def test_config_port_refuses_unicode_digits(digit: str) -> None:
    table = {"terminal_id": "T1", "store_id": "S1", "switch": f"127.0.0.1:858{digit}"}
    with pytest.raises(ConfigError, match="host:port"):
        from_mapping(table, "agent.toml")
    assert from_mapping({**table, "switch": "127.0.0.1:8583"}, "agent.toml").hosts == (
        "127.0.0.1:8583",)
    hosts = {"hosts": ["127.0.0.1:8583", f"127.0.0.2:858{digit}"]}
    with pytest.raises(ConfigError, match=r"\[switch\]\.hosts\[1\]: must be host:port"):
        from_mapping({"terminal_id": "T1", "store_id": "S1"}, "agent.toml", hosts)


@pytest.mark.parametrize("digit", UNICODE_DIGITS)
def test_register_amounts_refuse_unicode_digits(digit: str) -> None:
    with pytest.raises(EcrMessageError):
        parse_request(f"EARN\x1c10{digit}0\x1cINV1".encode())
    assert parse_request(b"EARN\x1c1000\x1cINV1").amount == 1000


@pytest.mark.parametrize("digit", UNICODE_DIGITS)
def test_points_from_the_switch_in_other_digits_are_not_counts(digit: str) -> None:
    resp = Message("0210", {39: "00", 48: build_tlv({"EP": f"1{digit}", "RD": "7"})})
    outcome = outcome_of(resp)
    assert outcome.earned is None
    assert outcome.redeemed == 7
