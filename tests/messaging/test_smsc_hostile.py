"""An SMSC that breaks SMPP 3.4 (docs/messaging.md, "SMPP"): each PDU it sends is handled or
ends the session with `ChannelError` and its reason, after which the channel is closed and the
sender binds again. Nothing else leaves the channel, nothing it hands on (receipts, replies,
message ids) holds what the outbox and the logs cannot keep, and no length the SMSC writes
makes it read more than `MAX_PDU`.

The SMSC here is a TCP server on loopback that answers the bind and then sends the test's
bytes: the well-behaved servers of the other tests cannot be told to send broken PDUs."""

from __future__ import annotations

import random
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from smpplib import command_codes

from switch.core.catalog import HostPort
from switch.messaging.settings import SmsSettings
from switch.messaging.smpp import (
    MAX_PDU,
    ChannelError,
    Receipt,
    Reply,
    SmppChannel,
    parse_receipt,
    smsc_message_id,
)
from tests.loopback import serve_each
from tests.waits import EVENT

BIND_TRANSCEIVER_RESP = 0x80000009
DELIVER_SM = 0x00000005
UNBIND_RESP = 0x80000006


def pdu(command_id: int, body: bytes = b"", *, status: int = 0, sequence: int = 7) -> bytes:
    return struct.pack(">LLLL", 16 + len(body), command_id, status, sequence) + body


@dataclass
class RawSmsc:
    """Each connection: the bind answered, then `script` sent, then closed unless `hold`."""

    script: list[bytes] = field(default_factory=list)
    hold: bool = False
    server: socket.socket | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def start(self) -> RawSmsc:
        self.server = serve_each(self._serve)
        return self

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.getsockname()[1])

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            head = _exact(conn, 16)
            if head is None:
                return
            length, _, _, sequence = struct.unpack(">LLLL", head)
            if _exact(conn, length - 16) is None:
                return
            conn.sendall(pdu(BIND_TRANSCEIVER_RESP, b"raw\0", sequence=sequence))
            for chunk in self.script:
                conn.sendall(chunk)
            if self.hold:
                self.done.wait(EVENT)

    def stop(self) -> None:
        self.done.set()
        if self.server is not None:
            self.server.close()


def _exact(conn: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        part = conn.recv(n - len(data))
        if not part:
            return None
        data += part
    return data


@dataclass
class Heard:
    receipts: list[Receipt] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)


@pytest.fixture
def raw_smsc() -> Iterator[RawSmsc]:
    server = RawSmsc().start()
    try:
        yield server
    finally:
        server.stop()


def _channel(port: int, heard: Heard, *, enquire_link: float = 30.0) -> SmppChannel:
    settings = SmsSettings(HostPort("127.0.0.1", port), "lps", "secret", "LPS", 5, 0,
                           timeout=EVENT, enquire_link=enquire_link)
    return SmppChannel(settings, heard.receipts.append, heard.replies.append)


@pytest.mark.parametrize(("sent", "why"), [
    (pdu(0x00001234), "not SMPP 3.4 (command_id 0x00001234: Unknown SMPP command code"),
    (struct.pack(">L", 0), "a PDU of 0 bytes"),
    (struct.pack(">LLLL", 15, DELIVER_SM, 0, 7), "a PDU of 15 bytes"),
    # a length that smpplib would have asked the socket for, in one buffer of 4 GB
    (struct.pack(">LLLL", 0xFFFFFFFF, DELIVER_SM, 0, 7), f"a PDU of {0xFFFFFFFF} bytes"),
    (struct.pack(">LLLL", MAX_PDU + 1, DELIVER_SM, 0, 7), f"a PDU of {MAX_PDU + 1} bytes"),
    # an enquire_link_resp with a byte of body
    (pdu(0x80000015, b"\x00"), "not SMPP 3.4 (command_id 0x80000015: unpack requires"),
])
def test_a_pdu_that_is_not_smpp_ends_the_session_with_its_reason(
        raw_smsc: RawSmsc, sent: bytes, why: str) -> None:
    raw_smsc.script, raw_smsc.hold = [sent], True
    channel = _channel(raw_smsc.port, Heard())
    channel.open()
    with pytest.raises(ChannelError, match="sent a ") as err:
        channel.poll(EVENT)
    assert why in str(err.value)
    assert not channel.is_open  # the sender binds again


def test_a_bind_answered_with_bytes_that_are_not_smpp_is_a_refused_bind() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            _exact(conn, 16)
            conn.sendall(struct.pack(">LLLL", 12, BIND_TRANSCEIVER_RESP, 0, 1))

    threading.Thread(target=answer, daemon=True).start()
    try:
        channel = _channel(server.getsockname()[1], Heard())
        with pytest.raises(ChannelError, match="answered the bind with a PDU of 12 bytes"):
            channel.open()
        assert not channel.is_open
    finally:
        server.close()


def test_a_session_the_smsc_closes_while_idle_is_dropped_once(raw_smsc: RawSmsc) -> None:
    """It stayed open: every idle round of the sender read the closed socket at once and
    logged the loss again, and no bind followed."""
    channel = _channel(raw_smsc.port, Heard())
    channel.open()
    with pytest.raises(ChannelError, match="connection lost"):
        channel.poll(EVENT)
    assert not channel.is_open
    channel.poll(0.0)  # nothing to read from: no error again
    channel.open()  # and the next bind is a new session
    assert channel.is_open
    channel.close()


def test_an_unasked_unbind_resp_ends_the_session_at_the_next_send(raw_smsc: RawSmsc) -> None:
    """smpplib takes the SMSC's unbind_resp as the end of the bind and refuses every PDU
    after it; the enquire_link the idle channel sends is refused there, not let out."""
    raw_smsc.script, raw_smsc.hold = [pdu(UNBIND_RESP)], True
    channel = _channel(raw_smsc.port, Heard(), enquire_link=0.0)
    channel.open()
    with pytest.raises(ChannelError, match="state that allows no enquire_link"):
        channel.poll(EVENT)
    assert not channel.is_open


@pytest.mark.parametrize(("raw", "kept"), [
    (b"abc-123\0", "abc-123"), (b"A" * 65, "A" * 65), (b"A" * 66, None), (b"", None),
    (b"id\nevent=opt_out", None), (b"\x1b[31mred", None), (b"\xff\xfe", None),
    ("abc", None), (None, None),
])
def test_an_smsc_message_id_is_kept_only_as_printable_ascii(raw: object,
                                                            kept: str | None) -> None:
    assert smsc_message_id(raw) == kept


def test_a_receipt_whose_id_the_outbox_cannot_keep_is_dropped() -> None:
    @dataclass
    class Deliver:
        short_message: bytes
        receipted_message_id: bytes | None = None
        message_state: int | None = None

    assert parse_receipt(Deliver(b"id:abc stat:DELIVRD err:000")) == Receipt("abc", "DELIVRD",
                                                                             "000")
    assert parse_receipt(Deliver(b"stat:DELIVRD", b"a\nb\0", 2)) is None
    assert parse_receipt(Deliver(b"id:\x07bell stat:DELIVRD")) is None


def _hostile(rng: random.Random) -> bytes:
    """A PDU of a known command_id (one that parses now and then) with a body of bytes,
    C-strings and TLVs drawn at random."""
    code = rng.choice(list(command_codes.commands.values()))
    pieces = [b"abc\0", b"\0", b"\x01", b"\x00\x00\x00", b"\x04\x1e\x00\x03ab\0",
              b"\x04\x24\xff\xff", b"id:x\nstat:DELIVRD\0", b"\x40", b"\x08", b"\xff" * 3]
    if rng.random() < 0.4:
        body = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 3, 17, 60])))
    else:
        body = b"".join(rng.choice(pieces) for _ in range(rng.randrange(14)))
    return pdu(code, body, status=rng.choice([0, 0, 1, 0x58]), sequence=rng.randrange(1, 9))


def test_random_pdus_are_handled_or_end_the_session(raw_smsc: RawSmsc) -> None:
    """Three hundred sessions, each the bind, one random PDU and the SMSC's close: the
    channel either handles the PDU or ends the session with `ChannelError`; what it hands
    on is text."""
    rng = random.Random(8583)
    heard = Heard()
    escaped: list[str] = []
    for _ in range(300):
        sent = _hostile(rng)
        raw_smsc.script = [sent]
        channel = _channel(raw_smsc.port, heard)
        channel.open()
        try:
            channel.poll(EVENT)  # the SMSC's close ends it
        except ChannelError:
            pass
        except Exception as exc:  # what this test is for
            escaped.append(f"{sent.hex()}: {exc!r:.120}")
        assert not channel.is_open
    assert not escaped, escaped
    assert all(type(r.message_id) is str and r.message_id.isprintable()
               for r in heard.receipts)
    assert all(type(r.source) is str and type(r.text) is str for r in heard.replies)
    assert heard.replies  # some of them parsed, as deliver_sm, and were handed on
