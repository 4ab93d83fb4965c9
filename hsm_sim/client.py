"""The one interface the switch uses to reach the HSM, in-process or over TCP.

``connect_hsm("inproc", lmk_path=...)`` runs the engine in the caller's process;
``connect_hsm("tcp://127.0.0.1:1500")`` speaks the payShield-style host protocol to
``lps-hsm serve``. Both return an object satisfying the ``Hsm`` protocol and raise the same
``HsmError`` subclasses for the same faults. The caller only ever holds keys under the LMK
(``U`` + 32 hex), keys under a terminal master key, check values and PINs under the LMK.

All calls are synchronous and thread-safe. An in-process call costs tens of microseconds
(one MAC is about 20 µs); a TCP call adds a loopback round trip (about 100 µs) and is
serialised per client object, so open one client per thread that needs parallel calls.
``benches/bench_hsm.py`` measures both.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from hsm_sim.engine import ExportedKey, GeneratedKey, HsmEngine, KeyComponent
from hsm_sim.errors import (
    CommandError,
    HsmError,
    InputError,
    KeyLengthError,
    KeyParityError,
    KeySchemeError,
    KeyTypeError,
    LmkError,
    PinBlockError,
    PinBlockFormatError,
    PinError,
    ProtocolError,
    RemoteError,
)
from hsm_sim.hostcmd import response_code
from hsm_sim.lmk import KeyType, create_lmk_file, load_lmk, parse_key_type
from hsm_sim.primitives import account_number, check_tdes_ksn

__all__ = [
    "ExportedKey",
    "GeneratedKey",
    "Hsm",
    "InProcessHsm",
    "KeyComponent",
    "SessionKeys",
    "TcpHsm",
    "connect_hsm",
]


@dataclass(frozen=True)
class SessionKeys:
    """New session keys for a terminal (0800/101): each under the LMK and under its TMK."""

    mac: ExportedKey
    pin: ExportedKey


@runtime_checkable
class Hsm(Protocol):
    """What the switch may ask of the HSM. Keys go in and out only under the LMK or a TMK."""

    def diagnostics(self) -> str:
        """The LMK check value (16 hex digits): proves the HSM is up and which LMK it has."""
        ...

    def generate_key(self, key_type: KeyType | str) -> GeneratedKey:
        """A fresh key of ``key_type`` under the LMK, with its check value."""
        ...

    def generate_tmk(self) -> GeneratedKey:
        """A fresh terminal master key under the LMK."""
        ...

    def form_key(self, key_type: KeyType | str, components: Sequence[str]) -> GeneratedKey:
        """A key formed from clear hex components (XOR): loading a BDK or a known TMK."""
        ...

    def export_tmk_components(self, tmk_lmk: str) -> tuple[KeyComponent, KeyComponent]:
        """Two clear components (XOR = the TMK), each with its KCV, for key injection."""
        ...

    def generate_session_keys(self, tmk_lmk: str) -> SessionKeys:
        """A new MAC key (TAK) and PIN key (TPK), each under the LMK and under the TMK."""
        ...

    def generate_mac(self, key_lmk: str, data: bytes) -> bytes:
        """The 8-byte ISO 9797-1 alg. 3 MAC (padding 1) of ``data`` under a TAK."""
        ...

    def verify_mac(self, key_lmk: str, data: bytes, mac: bytes) -> bool:
        """True when ``mac`` (4 or 8 bytes) is the MAC of ``data`` under the TAK."""
        ...

    def kcv(self, key_lmk: str, key_type: KeyType | str) -> str:
        """The 6-hex-digit check value of a key under the LMK."""
        ...

    def encrypt_pin(self, pin: str, pan: str) -> str:
        """A clear PIN as a PIN under the LMK (operator PIN set; the only clear-PIN input)."""
        ...

    def translate_pin_to_lmk(self, tpk_lmk: str, pin_block: bytes, pan: str) -> str:
        """A format 0 PIN block under a TPK as a PIN under the LMK (PIN set at a terminal)."""
        ...

    def verify_pin(self, tpk_lmk: str, pin_block: bytes, pan: str, pin_lmk: str) -> bool:
        """True when the format 0 PIN block under the TPK holds the PIN stored under the LMK."""
        ...

    def verify_pin_dukpt(
        self, bdk_lmk: str, ksn: bytes, pin_block: bytes, pan: str, pin_lmk: str
    ) -> bool:
        """As ``verify_pin`` for a PIN block under the X9.24-1 DUKPT PIN key of ``ksn``."""
        ...

    def close(self) -> None:
        """Release the connection (a no-op in-process)."""
        ...




class InProcessHsm:
    """The engine in the caller's process: the same operations with no I/O."""

    def __init__(self, engine: HsmEngine) -> None:
        self._engine = engine

    @classmethod
    def from_lmk_file(cls, lmk_path: str | os.PathLike[str]) -> InProcessHsm:
        return cls(HsmEngine(load_lmk(lmk_path)))

    def diagnostics(self) -> str:
        return self._engine.lmk_check_value()

    def generate_key(self, key_type: KeyType | str) -> GeneratedKey:
        return self._engine.generate_key(parse_key_type(key_type))

    def generate_tmk(self) -> GeneratedKey:
        return self._engine.generate_key(KeyType.TMK)

    def form_key(self, key_type: KeyType | str, components: Sequence[str]) -> GeneratedKey:
        return self._engine.form_key(parse_key_type(key_type), [_hex16(c) for c in components])

    def export_tmk_components(self, tmk_lmk: str) -> tuple[KeyComponent, KeyComponent]:
        first, second = self._engine.split_key(tmk_lmk, KeyType.TMK, 2)
        return first, second

    def generate_session_keys(self, tmk_lmk: str) -> SessionKeys:
        mac = self._engine.generate_exported_key(KeyType.TAK, tmk_lmk, KeyType.TMK)
        pin = self._engine.generate_exported_key(KeyType.TPK, tmk_lmk, KeyType.TMK)
        return SessionKeys(mac, pin)

    def generate_mac(self, key_lmk: str, data: bytes) -> bytes:
        return self._engine.generate_mac(key_lmk, data)

    def verify_mac(self, key_lmk: str, data: bytes, mac: bytes) -> bool:
        _check_mac(mac)
        return self._engine.verify_mac(key_lmk, data, mac)

    def kcv(self, key_lmk: str, key_type: KeyType | str) -> str:
        return self._engine.kcv(key_lmk, parse_key_type(key_type))

    def encrypt_pin(self, pin: str, pan: str) -> str:
        return self._engine.encrypt_pin(pin, account_number(pan))

    def translate_pin_to_lmk(self, tpk_lmk: str, pin_block: bytes, pan: str) -> str:
        return self._engine.translate_pin_to_lmk(tpk_lmk, pin_block, account_number(pan))

    def verify_pin(self, tpk_lmk: str, pin_block: bytes, pan: str, pin_lmk: str) -> bool:
        return self._engine.verify_pin(tpk_lmk, pin_block, account_number(pan), pin_lmk)

    def verify_pin_dukpt(
        self, bdk_lmk: str, ksn: bytes, pin_block: bytes, pan: str, pin_lmk: str
    ) -> bool:
        return self._engine.verify_pin_dukpt(
            bdk_lmk, check_tdes_ksn(ksn), pin_block, account_number(pan), pin_lmk
        )

    def close(self) -> None:
        return None


def _check_mac(mac: bytes) -> None:
    if not isinstance(mac, bytes) or len(mac) not in (4, 8):
        raise InputError("a MAC to verify is 4 bytes (X9.19 truncated) or 8 bytes")


def _hex16(component: str) -> bytes:
    try:
        raw = bytes.fromhex(component)
    except (ValueError, TypeError):
        raise InputError("a key component is 32 hex digits") from None
    if len(raw) != 16:
        raise KeyLengthError(f"a key component is 32 hex digits, got {len(component)}")
    return raw


def _token(key_lmk: str) -> bytes:
    """A key under the LMK as it goes into a command, checked so it cannot shift fields."""
    if not isinstance(key_lmk, str) or len(key_lmk) != 33 or key_lmk[0] != "U":
        raise KeySchemeError("a key under the LMK is 'U' + 32 hex digits")
    try:
        bytes.fromhex(key_lmk[1:])
    except ValueError:
        raise KeySchemeError("a key under the LMK is 'U' + 32 hex digits") from None
    return key_lmk.encode("ascii")


def _pin_block_hex(pin_block: bytes) -> bytes:
    if not isinstance(pin_block, bytes) or len(pin_block) != 8:
        raise InputError("a format 0 PIN block is 8 bytes")
    return pin_block.hex().upper().encode()


def _pin_lmk(pin_lmk: str) -> bytes:
    try:
        ok = isinstance(pin_lmk, str) and len(bytes.fromhex(pin_lmk)) == 8
    except ValueError:
        ok = False
    if not ok:
        raise InputError("a PIN under the LMK is 16 hex digits")
    return pin_lmk.upper().encode()


_ERRORS: dict[str, type[HsmError]] = {
    "04": KeyTypeError,
    "10": KeyParityError,
    "13": LmkError,
    "15": InputError,
    "20": PinBlockError,
    "23": PinBlockFormatError,
    "24": PinError,
    "26": KeySchemeError,
    "27": KeyLengthError,
    "68": CommandError,
}
_LEN = struct.Struct(">H")


class TcpHsm:
    """A blocking host-protocol client of ``lps-hsm serve``; one request in flight at a time."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self._addr = (host, port)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._headers = itertools.count()
        self._sock: socket.socket | None = None

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self._addr, timeout=self._timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _recv_exactly(self, sock: socket.socket, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("HSM closed the connection")
            buf += chunk
        return bytes(buf)

    def call(self, command: str, body: bytes = b"") -> bytes:
        """Send one command; return the response fields after the error code ``00``.

        Raises the ``HsmError`` matching any other error code. Verification commands
        (M8, BC, GU) use ``call_verify`` instead, which turns code ``01`` into False.
        """
        code, fields = self._exchange(command, body)
        if code != "00":
            raise _ERRORS.get(code, RemoteError)(f"HSM {command} answered error {code}")
        return fields

    def call_verify(self, command: str, body: bytes) -> bool:
        code, _fields = self._exchange(command, body)
        if code == "01":
            return False
        if code != "00":
            raise _ERRORS.get(code, RemoteError)(f"HSM {command} answered error {code}")
        return True

    def _exchange(self, command: str, body: bytes) -> tuple[str, bytes]:
        with self._lock:
            header = f"{next(self._headers) % 10000:04d}".encode()
            payload = header + command.encode("ascii") + body
            if len(payload) > 0xFFFF:
                raise InputError(f"request of {len(payload)} bytes exceeds the 65535-byte frame")
            frame = _LEN.pack(len(payload)) + payload
            if self._sock is None:
                self._sock = self._connect()
            try:
                self._sock.sendall(frame)
                (length,) = _LEN.unpack(self._recv_exactly(self._sock, 2))
                response = self._recv_exactly(self._sock, length)
            except OSError:
                # a broken connection is dropped; the next call reconnects
                self._sock.close()
                self._sock = None
                raise
        expect = response_code(command)
        got = response[4:6].decode("ascii", "replace")
        if len(response) < 8 or response[:4] != header or got != expect:
            raise ProtocolError(f"unexpected HSM response to {command}: {response[:8]!r}")
        return response[6:8].decode("ascii", "replace"), response[8:]

    # ---------------------------------------------------------------- the Hsm protocol

    def diagnostics(self) -> str:
        fields = self.call("NC")
        return fields[:16].decode("ascii")

    def generate_key(self, key_type: KeyType | str) -> GeneratedKey:
        kt = parse_key_type(key_type)
        fields = self.call("A0", b"0" + kt.value.encode() + b"U").decode("ascii")
        return GeneratedKey(fields[:33], fields[33:39])

    def generate_tmk(self) -> GeneratedKey:
        return self.generate_key(KeyType.TMK)

    def form_key(self, key_type: KeyType | str, components: Sequence[str]) -> GeneratedKey:
        kt = parse_key_type(key_type)
        if not 2 <= len(components) <= 9:
            raise InputError(f"a key is formed from 2 to 9 components, got {len(components)}")
        body = f"{len(components)}{kt.value}U".encode()
        body += b"".join(_hex16(c).hex().upper().encode() for c in components)
        fields = self.call("A4", body).decode("ascii")
        return GeneratedKey(fields[:33], fields[33:39])

    def export_tmk_components(self, tmk_lmk: str) -> tuple[KeyComponent, KeyComponent]:
        fields = self.call("NE", KeyType.TMK.value.encode() + _token(tmk_lmk) + b"2")
        text = fields.decode("ascii")
        return (
            KeyComponent(text[0:32], text[32:38]),
            KeyComponent(text[38:70], text[70:76]),
        )

    def _export(self, key_type: KeyType, tmk_lmk: str) -> ExportedKey:
        body = b"1" + key_type.value.encode() + b"U;1" + _token(tmk_lmk) + b"X"
        text = self.call("A0", body).decode("ascii")
        return ExportedKey(text[0:33], text[34:66], text[66:72])

    def generate_session_keys(self, tmk_lmk: str) -> SessionKeys:
        return SessionKeys(self._export(KeyType.TAK, tmk_lmk), self._export(KeyType.TPK, tmk_lmk))

    def _mac_body(self, key_lmk: str, data: bytes, size: bytes) -> bytes:
        if not isinstance(data, bytes):
            raise InputError("MAC data must be bytes")
        if len(data) > 0xFFFF:
            raise InputError("MAC data is at most 65535 bytes over TCP")
        return (
            b"00"
            + size
            + b"31"
            + KeyType.TAK.value.encode()
            + _token(key_lmk)
            + f"{len(data):04X}".encode()
            + data
        )

    def generate_mac(self, key_lmk: str, data: bytes) -> bytes:
        return bytes.fromhex(self.call("M6", self._mac_body(key_lmk, data, b"1")).decode("ascii"))

    def verify_mac(self, key_lmk: str, data: bytes, mac: bytes) -> bool:
        _check_mac(mac)
        size = b"0" if len(mac) == 4 else b"1"
        body = self._mac_body(key_lmk, data, size) + mac.hex().upper().encode()
        return self.call_verify("M8", body)

    def kcv(self, key_lmk: str, key_type: KeyType | str) -> str:
        kt = parse_key_type(key_type)
        return self.call("BU", b"FF1" + _token(key_lmk) + b";" + kt.value.encode()).decode("ascii")

    def encrypt_pin(self, pin: str, pan: str) -> str:
        if not isinstance(pin, str) or not pin.isascii() or not pin.isdigit():
            raise PinError("a PIN is a string of decimal digits")
        if not 4 <= len(pin) <= 12:
            raise PinError(f"a PIN has 4 to 12 digits, got {len(pin)}")
        body = pin.ljust(13, "F").encode() + account_number(pan).encode()
        return self.call("BA", body).decode("ascii")

    def translate_pin_to_lmk(self, tpk_lmk: str, pin_block: bytes, pan: str) -> str:
        body = _token(tpk_lmk) + _pin_block_hex(pin_block) + b"01" + account_number(pan).encode()
        return self.call("JC", body).decode("ascii")

    def verify_pin(self, tpk_lmk: str, pin_block: bytes, pan: str, pin_lmk: str) -> bool:
        body = (
            _token(tpk_lmk)
            + _pin_block_hex(pin_block)
            + b"01"
            + account_number(pan).encode()
            + _pin_lmk(pin_lmk)
        )
        return self.call_verify("BC", body)

    def verify_pin_dukpt(
        self, bdk_lmk: str, ksn: bytes, pin_block: bytes, pan: str, pin_lmk: str
    ) -> bool:
        body = (
            b"0"
            + _token(bdk_lmk)
            + b"A05"
            + check_tdes_ksn(ksn).hex().upper().encode()
            + _pin_block_hex(pin_block)
            + account_number(pan).encode()
            + _pin_lmk(pin_lmk)
        )
        return self.call_verify("GU", body)

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def __enter__(self) -> TcpHsm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect_hsm(
    url: str,
    *,
    lmk_path: str | os.PathLike[str] | None = None,
    create_lmk: bool = False,
    timeout: float = 5.0,
) -> Hsm:
    """An Hsm for ``"inproc"`` (needs ``lmk_path``) or ``"tcp://host:port"``.

    ``url`` is the string of ``[switch] hsm`` in lps.toml. ``create_lmk`` makes a new LMK
    file when ``lmk_path`` does not exist (for a fresh demo or test database only: keys
    stored under a previous LMK are useless under a new one). ``timeout`` (seconds) bounds
    each TCP connect, send and receive.
    """
    if url == "inproc":
        if lmk_path is None:
            raise LmkError("connect_hsm('inproc') needs lmk_path (create one: lps-hsm init)")
        path = Path(lmk_path)
        if create_lmk and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            create_lmk_file(path)
        return InProcessHsm.from_lmk_file(path)
    if url.startswith("tcp://"):
        host, sep, port = url[len("tcp://") :].rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise InputError(f"HSM address must be tcp://host:port, got {url!r}")
        return TcpHsm(host.strip("[]"), int(port), timeout)
    raise InputError(f"unknown HSM address {url!r}: use 'inproc' or 'tcp://host:port'")
