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
from typing import Protocol, TypeVar, runtime_checkable

from hsm_sim import hostops as ops
from hsm_sim.engine import ExportedKey, GeneratedKey, HsmEngine, KeyComponent
from hsm_sim.errors import InputError, LmkError, ProtocolError
from hsm_sim.lmk import KeyType, create_lmk_file, load_lmk, parse_key_type
from hsm_sim.primitives import account_number, check_tdes_ksn, is_ascii_digits

T = TypeVar("T")
_LEN = struct.Struct(">H")

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
        return self._engine.form_key(parse_key_type(key_type), [ops.hex16(c) for c in components])

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
        ops.check_mac(mac)
        return self._engine.verify_mac(key_lmk, data, mac)

    def forget_working_key(self, key_lmk: str) -> bool:
        """Drop the MAC key the engine keeps ready for ``key_lmk`` (docs/hsm.md §2)."""
        return self._engine.forget_working_key(key_lmk)

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

    @staticmethod
    def _recv_exactly(sock: socket.socket, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("HSM closed the connection")
            buf += chunk
        return bytes(buf)

    def run(self, op: ops.Op[T]) -> T:
        """Send one host command and return its result (or raise its ``HsmError``)."""
        with self._lock:
            header = f"{next(self._headers) % 10000:04d}".encode()
            payload = op.payload(header)
            if self._sock is None:
                self._sock = self._connect()
            try:
                self._sock.sendall(_LEN.pack(len(payload)) + payload)
                (length,) = _LEN.unpack(self._recv_exactly(self._sock, 2))
                response = self._recv_exactly(self._sock, length)
            except OSError:
                # a broken connection is dropped; the next call reconnects
                self._drop()
                raise
            if response[:4] != header:
                self._drop()  # out of step with the server: never read its next answer
                raise ProtocolError(f"HSM answered header {response[:4]!r}, not {header!r}")
        return op.result(header, response)

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # ---------------------------------------------------------------- the Hsm protocol

    def diagnostics(self) -> str:
        return self.run(ops.diagnostics())

    def generate_key(self, key_type: KeyType | str) -> GeneratedKey:
        return self.run(ops.generate_key(key_type))

    def generate_tmk(self) -> GeneratedKey:
        return self.run(ops.generate_key(KeyType.TMK))

    def form_key(self, key_type: KeyType | str, components: Sequence[str]) -> GeneratedKey:
        return self.run(ops.form_key(key_type, components))

    def export_tmk_components(self, tmk_lmk: str) -> tuple[KeyComponent, KeyComponent]:
        return self.run(ops.export_tmk_components(tmk_lmk))

    def generate_session_keys(self, tmk_lmk: str) -> SessionKeys:
        mac = self.run(ops.export_new_key(KeyType.TAK, tmk_lmk))
        pin = self.run(ops.export_new_key(KeyType.TPK, tmk_lmk))
        return SessionKeys(mac, pin)

    def generate_mac(self, key_lmk: str, data: bytes) -> bytes:
        return self.run(ops.generate_mac(key_lmk, data))

    def verify_mac(self, key_lmk: str, data: bytes, mac: bytes) -> bool:
        return self.run(ops.verify_mac(key_lmk, data, mac))

    def kcv(self, key_lmk: str, key_type: KeyType | str) -> str:
        return self.run(ops.kcv(key_lmk, key_type))

    def encrypt_pin(self, pin: str, pan: str) -> str:
        return self.run(ops.encrypt_pin(pin, pan))

    def translate_pin_to_lmk(self, tpk_lmk: str, pin_block: bytes, pan: str) -> str:
        return self.run(ops.translate_pin_to_lmk(tpk_lmk, pin_block, pan))

    def verify_pin(self, tpk_lmk: str, pin_block: bytes, pan: str, pin_lmk: str) -> bool:
        return self.run(ops.verify_pin(tpk_lmk, pin_block, pan, pin_lmk))

    def verify_pin_dukpt(
        self, bdk_lmk: str, ksn: bytes, pin_block: bytes, pan: str, pin_lmk: str
    ) -> bool:
        return self.run(ops.verify_pin_dukpt(bdk_lmk, ksn, pin_block, pan, pin_lmk))

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def __enter__(self) -> TcpHsm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_tcp_url(url: str) -> tuple[str, int]:
    """``tcp://host:port`` as (host, port); ``InputError`` otherwise."""
    if not url.startswith("tcp://"):
        raise InputError(f"unknown HSM address {url!r}: use 'inproc' or 'tcp://host:port'")
    host, sep, port = url[len("tcp://") :].rpartition(":")
    if not sep or not is_ascii_digits(port) or not host or not 0 < int(port) <= 65535:
        raise InputError(f"HSM address must be tcp://host:port, got {url!r}")
    return host.strip("[]"), int(port)


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
    return TcpHsm(*parse_tcp_url(url), timeout)
