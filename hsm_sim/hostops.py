"""Client side of the host protocol, sans I/O: each operation as a request and a finisher.

An ``Op`` holds the command code, its body, and ``finish(code, fields)`` which turns the
response's error code and fields into the result or the matching ``HsmError``. The blocking
``TcpHsm`` and the asyncio ``AsyncTcpHsm`` send the same ``Op``s and differ only in I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from hsm_sim.engine import ExportedKey, GeneratedKey, KeyComponent
from hsm_sim.errors import (
    CommandError,
    HsmError,
    InputError,
    KeyLengthError,
    KeyParityError,
    KeySchemeError,
    KeyTypeError,
    LmkError,
    NotAuthorisedError,
    PinBlockError,
    PinBlockFormatError,
    PinError,
    ProtocolError,
    RemoteError,
)
from hsm_sim.hostcmd import HEADER_LEN, response_code
from hsm_sim.lmk import KeyType, parse_key_type
from hsm_sim.primitives import account_number, check_tdes_ksn, is_ascii_digits

T = TypeVar("T")

ERRORS: dict[str, type[HsmError]] = {
    "04": KeyTypeError,
    "10": KeyParityError,
    "13": LmkError,
    "15": InputError,
    "17": NotAuthorisedError,
    "20": PinBlockError,
    "23": PinBlockFormatError,
    "24": PinError,
    "26": KeySchemeError,
    "27": KeyLengthError,
    "68": CommandError,
}
MAX_PAYLOAD = 0xFFFF


def error_for(command: str, code: str) -> HsmError:
    cls = ERRORS.get(code)
    if cls is None:
        return RemoteError(code, f"HSM {command} answered error {code}")
    hint = f": {cls.hint}" if cls.hint else ""
    return cls(f"HSM {command} answered error {code}{hint}")


@dataclass(frozen=True)
class Op(Generic[T]):
    """One host command to send, and how to read its answer."""

    command: str
    body: bytes
    finish: Callable[[str, bytes], T]

    def payload(self, header: bytes) -> bytes:
        payload = header + self.command.encode("ascii") + self.body
        if len(payload) > MAX_PAYLOAD:
            raise InputError(f"request of {len(payload)} bytes exceeds the 65535-byte frame")
        return payload

    def result(self, header: bytes, response: bytes) -> T:
        """Check the response belongs to this request, then finish it."""
        got = response[HEADER_LEN : HEADER_LEN + 2].decode("ascii", "replace")
        if len(response) < 8 or response[:HEADER_LEN] != header or got != response_code(
            self.command
        ):
            raise ProtocolError(f"unexpected HSM response to {self.command}: {response[:8]!r}")
        return self.finish(response[6:8].decode("ascii", "replace"), response[8:])


def _fields(command: str, parse: Callable[[str], T]) -> Callable[[str, bytes], T]:
    def finish(code: str, fields: bytes) -> T:
        if code != "00":
            raise error_for(command, code)
        try:
            return parse(fields.decode("ascii"))
        except (UnicodeDecodeError, ValueError, IndexError):
            raise ProtocolError(f"malformed {command} response fields {fields[:40]!r}") from None

    return finish


def _verdict(command: str) -> Callable[[str, bytes], bool]:
    def finish(code: str, fields: bytes) -> bool:
        if code == "01":
            return False
        if code != "00":
            raise error_for(command, code)
        return True

    return finish


# ------------------------------------------------------------------ argument checks


def token(key_lmk: str) -> bytes:
    """A key under the LMK as it goes into a command, checked so it cannot shift fields."""
    if not isinstance(key_lmk, str) or len(key_lmk) != 33 or key_lmk[0] != "U":
        raise KeySchemeError("a key under the LMK is 'U' + 32 hex digits")
    try:
        bytes.fromhex(key_lmk[1:])
    except ValueError:
        raise KeySchemeError("a key under the LMK is 'U' + 32 hex digits") from None
    return key_lmk.encode("ascii")


def hex16(component: str) -> bytes:
    try:
        raw = bytes.fromhex(component)
    except (ValueError, TypeError):
        raise InputError("a key component is 32 hex digits") from None
    if len(raw) != 16:
        raise KeyLengthError(f"a key component is 32 hex digits, got {len(component)}")
    return raw


def check_mac(mac: bytes) -> None:
    if not isinstance(mac, bytes) or len(mac) not in (4, 8):
        raise InputError("a MAC to verify is 4 bytes (X9.19 truncated) or 8 bytes")


def check_pin(pin: str) -> str:
    if not isinstance(pin, str) or not is_ascii_digits(pin):
        raise PinError("a PIN is a string of decimal digits")
    if not 4 <= len(pin) <= 12:
        raise PinError(f"a PIN has 4 to 12 digits, got {len(pin)}")
    return pin


def pin_block_hex(pin_block: bytes) -> bytes:
    if not isinstance(pin_block, bytes) or len(pin_block) != 8:
        raise InputError("a format 0 PIN block is 8 bytes")
    return pin_block.hex().upper().encode()


def pin_lmk_field(pin_lmk: str) -> bytes:
    try:
        ok = isinstance(pin_lmk, str) and len(bytes.fromhex(pin_lmk)) == 8
    except ValueError:
        ok = False
    if not ok:
        raise InputError("a PIN under the LMK is 16 hex digits")
    return pin_lmk.upper().encode()


# ------------------------------------------------------------------ operations


def diagnostics() -> Op[str]:
    return Op("NC", b"", _fields("NC", lambda f: f[:16]))


def _generated(f: str) -> GeneratedKey:
    if len(f) != 39:
        raise ValueError(f)
    return GeneratedKey(f[:33], f[33:39])


def generate_key(key_type: KeyType | str) -> Op[GeneratedKey]:
    kt = parse_key_type(key_type)
    return Op("A0", b"0" + kt.value.encode() + b"U", _fields("A0", _generated))


def form_key(key_type: KeyType | str, components: Sequence[str]) -> Op[GeneratedKey]:
    kt = parse_key_type(key_type)
    if not 2 <= len(components) <= 9:
        raise InputError(f"a key is formed from 2 to 9 components, got {len(components)}")
    body = f"{len(components)}{kt.value}U".encode()
    body += b"".join(hex16(c).hex().upper().encode() for c in components)
    return Op("A4", body, _fields("A4", _generated))


def _two_components(f: str) -> tuple[KeyComponent, KeyComponent]:
    if len(f) != 76:
        raise ValueError(f)
    return KeyComponent(f[0:32], f[32:38]), KeyComponent(f[38:70], f[70:76])


def export_tmk_components(tmk_lmk: str) -> Op[tuple[KeyComponent, KeyComponent]]:
    body = KeyType.TMK.value.encode() + token(tmk_lmk) + b"2"
    return Op("NE", body, _fields("NE", _two_components))


def _exported(f: str) -> ExportedKey:
    if len(f) != 72 or f[33] != "X":
        raise ValueError(f)
    return ExportedKey(f[0:33], f[34:66], f[66:72])


def export_new_key(key_type: KeyType, tmk_lmk: str) -> Op[ExportedKey]:
    """A0 mode 1 with the TMK flag: a new key under the LMK and under the TMK."""
    body = b"1" + key_type.value.encode() + b"U;1" + token(tmk_lmk) + b"X"
    return Op("A0", body, _fields("A0", _exported))


def _mac_body(key_lmk: str, data: bytes, size: bytes) -> bytes:
    if not isinstance(data, bytes):
        raise InputError("MAC data must be bytes")
    if len(data) > 0xFFFF:
        raise InputError("MAC data is at most 65535 bytes over TCP")
    head = b"00" + size + b"31" + KeyType.TAK.value.encode() + token(key_lmk)
    return head + f"{len(data):04X}".encode() + data


def generate_mac(key_lmk: str, data: bytes) -> Op[bytes]:
    return Op("M6", _mac_body(key_lmk, data, b"1"), _fields("M6", bytes.fromhex))


def verify_mac(key_lmk: str, data: bytes, mac: bytes) -> Op[bool]:
    check_mac(mac)
    size = b"0" if len(mac) == 4 else b"1"
    body = _mac_body(key_lmk, data, size) + mac.hex().upper().encode()
    return Op("M8", body, _verdict("M8"))


def kcv(key_lmk: str, key_type: KeyType | str) -> Op[str]:
    kt = parse_key_type(key_type)
    body = b"FF1" + token(key_lmk) + b";" + kt.value.encode()
    return Op("BU", body, _fields("BU", lambda f: f[:6]))


def encrypt_pin(pin: str, pan: str) -> Op[str]:
    body = check_pin(pin).ljust(13, "F").encode() + account_number(pan).encode()
    return Op("BA", body, _fields("BA", lambda f: f[:16]))


def translate_pin_to_lmk(tpk_lmk: str, pin_block: bytes, pan: str) -> Op[str]:
    body = token(tpk_lmk) + pin_block_hex(pin_block) + b"01" + account_number(pan).encode()
    return Op("JC", body, _fields("JC", lambda f: f[:16]))


def verify_pin(tpk_lmk: str, pin_block: bytes, pan: str, pin_lmk: str) -> Op[bool]:
    body = (
        token(tpk_lmk)
        + pin_block_hex(pin_block)
        + b"01"
        + account_number(pan).encode()
        + pin_lmk_field(pin_lmk)
    )
    return Op("BC", body, _verdict("BC"))


def verify_pin_dukpt(
    bdk_lmk: str, ksn: bytes, pin_block: bytes, pan: str, pin_lmk: str
) -> Op[bool]:
    body = (
        b"0"
        + token(bdk_lmk)
        + b"A05"
        + check_tdes_ksn(ksn).hex().upper().encode()
        + pin_block_hex(pin_block)
        + account_number(pan).encode()
        + pin_lmk_field(pin_lmk)
    )
    return Op("GU", body, _verdict("GU"))
