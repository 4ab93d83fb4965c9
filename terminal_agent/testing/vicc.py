"""A virtual LPS loyalty card speaking vsmartcard's vpcd socket protocol.

pcscd's vpcd driver listens on TCP (35963 for slot 0, 35964 for slot 1); a card "is inserted"
while a client is connected to it. Each message is a 2-byte big-endian length plus data; a
1-byte message is a control (0 power off, 1 power on, 2 reset, 4 get ATR), anything else is an
APDU to answer. Only the ATR and APDUs get a reply.

Moved from tests/agent so that `make demo` can use it too; the vpcd slot constants and the lock
that keeps two users of the machine's vpcd slots apart live here for the same reason.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path

AID = bytes.fromhex("F04C4F59414C5459")
# PC/SC part 3 contactless ATR (3B 8n 80 01 + historical bytes "LOYALTY" + TCK).
ATR_CONTACTLESS = bytes.fromhex("3B8880014C4F59414C5459C5")
ATR_CONTACT = bytes.fromhex("3B02144C")  # a plain T=0 contact card

VPCD_PORTS = (35963, 35964)  # /etc/reader.conf.d/vpcd: CHANNELID 0x8C7B, two slots
VPCD_READERS = ("Virtual PCD 00 00", "Virtual PCD 00 01")
#: Where every session on the machine coordinates its use of PC/SC: vpcd's ports and pcscd are
#: one per machine, so these files cannot follow TMPDIR, which a session may point at a
#: directory of its own (the demo's own test does).
MACHINE_DIR = Path("/tmp")
# The vpcd slots belong to the whole machine: whoever inserts cards holds this flock meanwhile.
VPCD_LOCK = MACHINE_DIR / "lps-vpcd-slots.lock"

CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0, 1, 2, 4


def tlv(tag: bytes, value: bytes) -> bytes:
    """BER-TLV with a short or 0x81 long-form length (enough for a loyalty record)."""
    n = len(value)
    length = bytes([n]) if n < 0x80 else bytes([0x81, n])
    return tag + length + value


def pan_bcd(pan: str) -> bytes:
    digits = pan + ("F" if len(pan) % 2 else "")
    return bytes.fromhex(digits)


@dataclass
class VirtualLoyaltyCard:
    """One card in one vpcd slot. `mode` picks the behaviour under test:

    ``lps``: a good card; ``no_app``: no LPS application (SELECT answers 6A82);
    ``mute``: answers the ATR, never any APDU (the reader times out); ``pull``: the card is
    pulled out when READ RECORD arrives; ``garbage``: READ RECORD returns a broken template.
    """

    pan: str = "6280001234567895"
    expiry: str = "301231"
    holder: str = "NADERI/SARA"
    mode: str = "lps"
    atr: bytes = ATR_CONTACTLESS
    host: str = "127.0.0.1"
    port: int = 35963
    apdus: list[bytes] = field(default_factory=list)
    _sock: socket.socket | None = None
    _thread: threading.Thread | None = None
    _selected: bool = False

    def record(self) -> bytes:
        inner = (
            tlv(b"\x5a", pan_bcd(self.pan))
            + tlv(b"\x5f\x24", bytes.fromhex(self.expiry))
            + tlv(b"\x5f\x20", self.holder.encode("ascii"))
        )
        return tlv(b"\x70", inner)

    def insert(self) -> None:
        """Connect to vpcd: PC/SC now sees a card in this slot."""
        sock = socket.create_connection((self.host, self.port), timeout=5)
        sock.settimeout(None)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
        self._thread.start()

    def remove(self) -> None:
        """Disconnect from vpcd: the card is gone."""
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> VirtualLoyaltyCard:
        self.insert()
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def _recv_exact(self, sock: socket.socket, n: int) -> bytes | None:
        buf = b""
        while len(buf) < n:
            try:
                chunk = sock.recv(n - len(buf))
            except OSError:
                return None
            if not chunk:
                return None
            buf += chunk
        return buf

    def _send(self, sock: socket.socket, data: bytes) -> None:
        with contextlib.suppress(OSError):
            sock.sendall(struct.pack(">H", len(data)) + data)

    def _serve(self, sock: socket.socket) -> None:
        while True:
            head = self._recv_exact(sock, 2)
            if head is None:
                return
            (n,) = struct.unpack(">H", head)
            data = self._recv_exact(sock, n)
            if data is None:
                return
            if n == 1:
                if data[0] == CTRL_ATR:
                    self._send(sock, self.atr)
                elif data[0] in (CTRL_OFF, CTRL_RESET):
                    self._selected = False
                continue
            self.apdus.append(data)
            answer = self.answer(data)
            if answer is None:
                if self.mode == "pull":
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                    return
                continue  # mute: say nothing
            self._send(sock, answer)

    def answer(self, apdu: bytes) -> bytes | None:
        """The card's application: SELECT by AID, READ RECORD 1 of SFI 1."""
        if self.mode == "mute":
            return None
        _cla, ins, p1, _p2 = apdu[:4]
        if ins == 0xA4 and p1 == 0x04:
            lc = apdu[4] if len(apdu) > 4 else 0
            aid = apdu[5 : 5 + lc]
            if self.mode == "no_app" or aid != AID:
                self._selected = False
                return b"\x6a\x82"
            self._selected = True
            return tlv(b"\x6f", tlv(b"\x84", AID)) + b"\x90\x00"
        if ins == 0xB2:
            if not self._selected:
                return b"\x69\x85"
            if self.mode == "pull":
                return None
            if p1 != 1:
                return b"\x6a\x83"
            if self.mode == "garbage":
                return b"\x70\x20\x5a\x08\x62" + b"\x90\x00"
            return self.record() + b"\x90\x00"
        return b"\x6d\x00"
