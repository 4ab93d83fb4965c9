"""The agent's LPS-87 messages, encoded and decoded by the real codec in both profiles."""

from __future__ import annotations

import pytest

from iso8583 import Message, load_profile
from iso8583.loyalty import AmountEntry, build_de54, build_tlv, parse_de90, parse_tlv
from terminal_agent.card.apdu import LoyaltyCard
from terminal_agent.ecr.messages import EcrRequest
from terminal_agent.iso import financial_fields, outcome_of, reversal_fields

CARD = LoyaltyCard("6280001234567895", "3012", "A", "071")
NOW = 1795000000.0  # 2026-11-18 11:06:40 UTC


@pytest.mark.parametrize("profile", ["ascii", "bcd"])
def test_financial_request_roundtrip(profile: str) -> None:
    prof = load_profile(profile)
    f = financial_fields(EcrRequest("EARN", 150000, "INV-1"), CARD, "T0000001", "STORE0000000001",
                         NOW)
    f[11] = "000042"
    tpdu = bytes.fromhex("6000010000") if profile == "bcd" else None
    msg = prof.decode(prof.encode(Message("0200", f, tpdu=tpdu)))
    assert msg.mti == "0200"
    assert msg.fields[2] == "6280001234567895" and msg.fields[3] == "000000"
    assert msg.fields[4] == "000000150000" and msg.fields[14] == "3012"
    assert msg.fields[22] == "071" and msg.fields[7] == "1118110640"
    assert parse_tlv(str(msg.fields[48])) == {"IN": "INV-1"}


def test_processing_codes_and_refund() -> None:
    codes = {k: financial_fields(EcrRequest(k, 1, "I", "RRN1" if k == "REFUND" else ""), CARD,
                                 "T", "S", NOW)[3] for k in ("EARN", "BURN", "TOPUP", "REFUND")}
    assert codes == {"EARN": "000000", "BURN": "900000", "TOPUP": "210060", "REFUND": "200000"}
    bal = financial_fields(EcrRequest("BAL"), CARD, "T", "S", NOW)
    assert 4 not in bal and bal[3] == "310000" and 48 not in bal
    refund = financial_fields(EcrRequest("REFUND", 5, "I", "000000000777"), CARD, "T", "S", NOW)
    assert parse_tlv(str(refund[48]))["OR"] == "000000000777"


def test_reversal_names_original() -> None:
    f = financial_fields(EcrRequest("BURN", 9000, "I"), CARD, "T0000001", "S", NOW)
    f[11] = "000007"
    rev = reversal_fields("0200", f, NOW + 61)
    od = parse_de90(str(rev[90]))
    assert (od.mti, od.stan, od.transmission) == ("0200", "000007", f[7])
    assert rev[4] == f[4] and rev[3] == "900000" and rev[7] != f[7] and 11 not in rev
    load_profile("ascii").encode(Message("0400", {**rev, 11: "000008"}))


def test_outcome_of_response() -> None:
    resp = Message("0210", {37: "000000000123", 39: "00",
                            48: build_tlv([("EP", "15"), ("MS", "سپاس از خرید شما")]),
                            54: build_de54([AmountEntry("00", "02", "999", 1234)])})
    out = outcome_of(resp)
    assert (out.code, out.rrn, out.earned, out.redeemed, out.balance) == (
        "00", "000000000123", 15, None, 1234)
    assert out.message == "سپاس از خرید شما"
    neg = outcome_of(Message("0210", {39: "51", 54: build_de54(
        [AmountEntry("00", "02", "999", -5)])}))
    assert (neg.code, neg.balance, neg.message) == ("51", -5, "insufficient points")
    broken = outcome_of(Message("0210", {39: "00", 48: "EP9"}))
    assert broken.earned is None and broken.code == "00"
