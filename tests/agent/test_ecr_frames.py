"""The sans-I/O ECR framing: every byte-level case without a serial line."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from terminal_agent.ecr.frames import (
    AckReceived,
    BadFrame,
    Delivered,
    Failed,
    FrameReader,
    FrameReceived,
    FrameSender,
    NakReceived,
    Noise,
    Send,
    encode_frame,
    lrc,
)
from terminal_agent.ecr.messages import (
    EcrMessageError,
    EcrRequest,
    EcrResponse,
    encode_request,
    parse_request,
    parse_response,
)

from .register import frame as independent_frame


def test_frame_layout_matches_protocol() -> None:
    # EARN|1000|A1: LRC is the XOR of payload and ETX.
    payload = b"EARN\x1c1000\x1cA1"
    wire = encode_frame(payload)
    assert wire[0] == 0x02 and wire[-2] == 0x03
    x = 0
    for b in payload + b"\x03":
        x ^= b
    assert wire[-1] == x == lrc(payload + b"\x03")
    assert wire == independent_frame(payload)


@given(st.binary(max_size=300).map(lambda b: bytes(c for c in b if c not in (2, 3))))
def test_roundtrip_any_split(payload: bytes) -> None:
    wire = encode_frame(payload)
    for cut in range(len(wire) + 1):
        r = FrameReader()
        events = r.feed(wire[:cut]) + r.feed(wire[cut:])
        assert events == [FrameReceived(payload)]


@given(st.binary(max_size=200))
def test_reader_never_raises(noise: bytes) -> None:
    r = FrameReader()
    r.feed(noise)
    r.expire()


def test_bad_lrc_is_bad_frame() -> None:
    wire = bytearray(encode_frame(b"BAL"))
    wire[-1] ^= 0xFF
    (ev,) = FrameReader().feed(bytes(wire))
    assert isinstance(ev, BadFrame) and "LRC" in ev.reason


def test_stx_inside_frame_abandons_previous() -> None:
    r = FrameReader()
    events = r.feed(b"\x02EAR" + encode_frame(b"BAL"))
    assert isinstance(events[0], BadFrame)
    assert events[1] == FrameReceived(b"BAL")


def test_ack_nak_and_noise() -> None:
    events = FrameReader().feed(b"\x06zz\x15")
    assert events == [AckReceived(), Noise(b"zz"), NakReceived()]


def test_incomplete_frame_expires() -> None:
    r = FrameReader()
    assert r.feed(b"\x02EARN") == []
    (ev,) = r.expire()
    assert isinstance(ev, BadFrame) and "incomplete" in ev.reason
    assert r.expire() == []


def test_runaway_frame_cut() -> None:
    r = FrameReader(max_payload=10)
    events = r.feed(b"\x02" + b"A" * 50 + b"\x03\x00")
    assert isinstance(events[0], BadFrame)


def test_sender_retries_three_times_then_fails() -> None:
    s = FrameSender(b"RESP", now=0.0)
    assert isinstance(s.start(0.0), Send)
    assert s.poll(0.5) is None  # not yet due
    assert isinstance(s.on_nak(0.6), Send)  # retry 1
    assert isinstance(s.poll(1.7), Send)  # retry 2 (no ACK within 1 s)
    assert isinstance(s.on_nak(1.8), Send)  # retry 3
    assert s.attempts == 4
    final = s.poll(2.9)
    assert isinstance(final, Failed)
    assert s.on_ack() is None


def test_sender_delivered_on_ack() -> None:
    s = FrameSender(b"RESP", now=0.0)
    s.start(0.0)
    assert isinstance(s.on_nak(0.1), Send)
    assert s.on_ack() == Delivered()
    assert s.poll(100.0) is None


def test_requests_parse() -> None:
    assert parse_request(b"EARN\x1c150000\x1cINV-9") == EcrRequest("EARN", 150000, "INV-9")
    assert parse_request(b"BAL") == EcrRequest("BAL")
    assert parse_request(b"REFUND\x1c500\x1cI2\x1c000000000123") == EcrRequest(
        "REFUND", 500, "I2", "000000000123")
    for req in [EcrRequest("BURN", 1, ""), EcrRequest("TOPUP", 99, "x"), EcrRequest("BAL")]:
        assert parse_request(encode_request(req)) == req


def test_bad_requests_named() -> None:
    cases = {
        b"PAY\x1c1\x1c1": "unknown request",
        b"EARN\x1c12a\x1cX": "not 1-12 digits",
        b"EARN\x1c1000": "takes 3 fields",
        b"EARN\x1c0\x1cX": "zero",
        b"EARN\x1c1234567890123\x1cX": "not 1-12 digits",
        b"BAL\x1c": "takes 1 fields",
        b"EARN\x1c1\x1c\xff": "non-ASCII",
        b"REFUND\x1c1\x1cI\x1c": "original RRN",
    }
    for payload, why in cases.items():
        try:
            parse_request(payload)
        except EcrMessageError as exc:
            assert why in str(exc), (payload, exc)
        else:
            raise AssertionError(f"{payload!r} accepted")


def test_response_layout() -> None:
    r = EcrResponse("00", "000000000042", 15, 0, 1234, "Merci")
    assert r.encode() == b"RESP\x1c00\x1c000000000042\x1c15\x1c0\x1c1234\x1cMerci"
    assert parse_response(r.encode()) == r
    x = EcrResponse("XC", message="no card\x03\x02")
    assert x.encode() == b"RESP\x1cXC\x1c\x1c\x1c\x1c\x1cno card"
    persian = EcrResponse("00", message="سپاس")
    assert parse_response(persian.encode()).message == "سپاس"
