"""payShield-style host commands, sans I/O: one request payload in, one response payload out.

A payload is what follows the 2-byte length prefix: a 4-byte header (echoed back), a
2-character command code, then the command's fields. The response carries the header, the
response code (the command with its second character plus one), a 2-character error code and
the response fields. ``docs/hsm.md`` lists every layout field by field.

``handle`` never raises: a malformed request gets an error code, an unexpected fault ``41``.
Commands that hand out clear secrets (``AUTHORISED_COMMANDS``) answer ``17`` outside the
Authorised state; ``RA`` leaves that state (hsm_sim/authority.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from hsm_sim.authority import AUTHORISED_COMMANDS, AuthorisedState
from hsm_sim.engine import PIN_FORMAT_ISO0, HsmEngine
from hsm_sim.errors import (
    CommandError,
    HsmError,
    KeySchemeError,
    KeyTypeError,
    NotAuthorisedError,
    ProtocolError,
)
from hsm_sim.lmk import KeyType, parse_key_type
from hsm_sim.primitives import is_ascii_digits

log = logging.getLogger(__name__)

HEADER_LEN = 4
FIRMWARE = "0007-L001"  # 9 characters, as the ND response of a payShield
OK = "00"
VERIFY_FAILED = "01"
INTERNAL_ERROR = "41"

# BU key type codes (2 characters) that name one LPS key type; "FF" defers to a 3H field.
_BU_KEY_CODES = {
    "00": KeyType.ZMK,
    "01": KeyType.ZPK,
    "03": KeyType.TAK,
    "08": KeyType.ZAK,
    "09": KeyType.BDK,
}


def response_code(command: str) -> str:
    """The response code of a command: second character plus one (``M6`` -> ``M7``)."""
    if len(command) == 2 and command.isascii() and command.isalnum():
        second = command[1]
        if second not in "Z9z":
            return command[0] + chr(ord(second) + 1)
    return "ZZ"


class FieldReader:
    """Reads fixed-width fields from a command body; every shortfall is a ProtocolError."""

    def __init__(self, body: bytes) -> None:
        self._b = body
        self._i = 0

    def take(self, n: int, what: str) -> bytes:
        end = self._i + n
        if n < 0 or end > len(self._b):
            raise ProtocolError(f"request too short: {what} needs {n} bytes")
        chunk = self._b[self._i : end]
        self._i = end
        return chunk

    def text(self, n: int, what: str) -> str:
        raw = self.take(n, what)
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise ProtocolError(f"{what} is not ASCII") from None

    def digits(self, n: int, what: str) -> str:
        value = self.text(n, what)
        if not is_ascii_digits(value):
            raise ProtocolError(f"{what} must be {n} decimal digits")
        return value

    def hex(self, n: int, what: str) -> str:
        value = self.text(n, what).upper()
        if value.strip("0123456789ABCDEF"):
            raise ProtocolError(f"{what} must be {n} hex digits")
        return value

    def hex_bytes(self, n: int, what: str) -> bytes:
        return bytes.fromhex(self.hex(n, what))

    def key(self, what: str) -> str:
        scheme = self.text(1, f"{what} scheme")
        if scheme != "U":
            raise KeySchemeError(f"{what}: key scheme {scheme!r} unsupported (only 'U')")
        return "U" + self.hex(32, what)

    def key_type(self, what: str = "key type") -> KeyType:
        code = self.text(3, what)
        try:
            return KeyType(code.upper())
        except ValueError:
            raise KeyTypeError(f"unknown {what} {code!r}") from None

    def peek(self) -> bytes:
        return self._b[self._i : self._i + 1]

    def done(self) -> None:
        if self._i != len(self._b):
            raise ProtocolError(f"{len(self._b) - self._i} unexpected bytes after the last field")


Handler = Callable[[HsmEngine, FieldReader], bytes]


def _ok(*fields: str | bytes) -> bytes:
    return OK.encode() + b"".join(f.encode("ascii") if isinstance(f, str) else f for f in fields)


def _verdict(ok: bool) -> bytes:
    return (OK if ok else VERIFY_FAILED).encode()


def _nc(engine: HsmEngine, r: FieldReader) -> bytes:
    r.done()
    return _ok(engine.lmk_check_value(), FIRMWARE)


def _a0(engine: HsmEngine, r: FieldReader) -> bytes:
    mode = r.text(1, "mode")
    if mode not in ("0", "1"):
        raise ProtocolError(f"A0 mode must be 0 or 1, got {mode!r}")
    key_type = r.key_type()
    if r.text(1, "key scheme (LMK)") != "U":
        raise KeySchemeError("key scheme (LMK) must be 'U'")
    if mode == "0":
        r.done()
        key = engine.generate_key(key_type)
        return _ok(key.key_lmk, key.kcv)
    kek_type = KeyType.ZMK
    if r.peek() == b";":
        r.take(1, "delimiter")
        flag = r.text(1, "ZMK/TMK flag")
        if flag not in ("0", "1"):
            raise ProtocolError(f"ZMK/TMK flag must be 0 or 1, got {flag!r}")
        kek_type = KeyType.TMK if flag == "1" else KeyType.ZMK
    kek = r.key("ZMK/TMK")
    if r.text(1, "key scheme (ZMK/TMK)") != "X":
        raise KeySchemeError("key scheme (ZMK/TMK) must be 'X' (TDES-ECB)")
    r.done()
    exported = engine.generate_exported_key(key_type, kek, kek_type)
    return _ok(exported.key_lmk, "X" + exported.key_kek, exported.kcv)


def _hc(engine: HsmEngine, r: FieldReader) -> bytes:
    tmk = r.key("current TMK")
    if r.text(1, "delimiter") != ";":
        raise ProtocolError("HC expects ';' after the TMK")
    if r.text(1, "key scheme (TMK)") != "X":
        raise KeySchemeError("key scheme (TMK) must be 'X' (TDES-ECB)")
    if r.text(1, "key scheme (LMK)") != "U":
        raise KeySchemeError("key scheme (LMK) must be 'U'")
    if r.peek():
        r.text(1, "reserved")  # payShield sends '0' here; accepted and ignored
    r.done()
    new = engine.generate_exported_key(KeyType.TMK, tmk, KeyType.TMK)
    return _ok("X" + new.key_kek, new.key_lmk, new.kcv)


def _a4(engine: HsmEngine, r: FieldReader) -> bytes:
    count = int(r.digits(1, "number of components"))
    key_type = r.key_type()
    if r.text(1, "key scheme (LMK)") != "U":
        raise KeySchemeError("key scheme (LMK) must be 'U'")
    components = [r.hex_bytes(32, f"component {i + 1}") for i in range(count)]
    r.done()
    key = engine.form_key(key_type, components)
    return _ok(key.key_lmk, key.kcv)


def _ne(engine: HsmEngine, r: FieldReader) -> bytes:
    key_type = r.key_type()
    key = r.key("key")
    count = int(r.digits(1, "number of components"))
    r.done()
    parts = engine.split_key(key, key_type, count)
    return _ok(*(c.component + c.kcv for c in parts))


def _bu(engine: HsmEngine, r: FieldReader) -> bytes:
    code = r.text(2, "key type code").upper()
    if r.text(1, "key length flag") != "1":
        raise KeySchemeError("key length flag must be 1 (double length)")
    key = r.key("key")
    if code == "FF":
        if r.text(1, "delimiter") != ";":
            raise ProtocolError("key type code FF needs ';' and a 3-character key type")
        key_type = r.key_type()
    elif code in _BU_KEY_CODES:
        key_type = _BU_KEY_CODES[code]
    else:
        raise KeyTypeError(f"key type code {code!r} unsupported; use FF and a key type")
    r.done()
    return _ok(engine.kcv(key, key_type))


def _mac_request(r: FieldReader) -> tuple[int, int, KeyType, str, bytes]:
    """Common M6/M8 fields: (mac bytes, padding, key type, key, message)."""
    if r.text(1, "mode flag") != "0":
        raise ProtocolError("only mode flag 0 (single block message) is supported")
    input_format = r.text(1, "input format flag")
    size = r.text(1, "MAC size")
    if size not in ("0", "1"):
        raise ProtocolError("MAC size must be 0 (8 hex) or 1 (16 hex)")
    if r.text(1, "MAC algorithm") != "3":
        raise ProtocolError("only MAC algorithm 3 (ISO 9797-1 algorithm 3) is supported")
    padding = r.text(1, "padding method")
    if padding not in ("1", "2"):
        raise ProtocolError("padding method must be 1 or 2 (ISO 9797-1)")
    key_type = r.key_type()
    key = r.key("MAC key")
    length = int(r.hex(4, "message length"), 16)
    if input_format in ("0", "2"):
        message = r.take(length, "message")
    elif input_format == "1":
        message = r.hex_bytes(length, "message")
    else:
        raise ProtocolError("input format flag must be 0 (binary), 1 (hex) or 2 (text)")
    return (4 if size == "0" else 8), int(padding), key_type, key, message


def _m6(engine: HsmEngine, r: FieldReader) -> bytes:
    mac_len, padding, key_type, key, message = _mac_request(r)
    r.done()
    mac = engine.generate_mac(key, message, key_type, padding)
    return _ok(mac[:mac_len].hex().upper())


def _m8(engine: HsmEngine, r: FieldReader) -> bytes:
    mac_len, padding, key_type, key, message = _mac_request(r)
    mac = r.hex_bytes(mac_len * 2, "MAC")
    r.done()
    return _verdict(engine.verify_mac(key, message, mac, key_type, padding))


def _pin_block_fields(r: FieldReader) -> tuple[bytes, str, str]:
    block = r.hex_bytes(16, "PIN block")
    fmt = r.digits(2, "PIN block format code")
    account = r.digits(12, "account number")
    return block, fmt, account


def _ba(engine: HsmEngine, r: FieldReader) -> bytes:
    pin = r.text(13, "PIN").rstrip("F")
    account = r.digits(12, "account number")
    r.done()
    return _ok(engine.encrypt_pin(pin, account))


def _jc(engine: HsmEngine, r: FieldReader) -> bytes:
    tpk = r.key("TPK")
    block, fmt, account = _pin_block_fields(r)
    r.done()
    return _ok(engine.translate_pin_to_lmk(tpk, block, account, KeyType.TPK, fmt))


def _bc(engine: HsmEngine, r: FieldReader) -> bytes:
    tpk = r.key("TPK")
    block, fmt, account = _pin_block_fields(r)
    pin_lmk = r.hex(16, "PIN under LMK")
    r.done()
    return _verdict(engine.verify_pin(tpk, block, account, pin_lmk, KeyType.TPK, fmt))


def _gu(engine: HsmEngine, r: FieldReader) -> bytes:
    if r.text(1, "mode flag") != "0":
        raise ProtocolError("only mode flag 0 (TDES DUKPT, X9.24-1) is supported")
    bdk = r.key("BDK")
    r.hex(2, "KSN descriptor")  # payShield's 3H descriptor; the KSN layout is fixed here
    r.hex(1, "KSN descriptor")
    ksn = r.hex_bytes(20, "KSN")
    block = r.hex_bytes(16, "PIN block")
    account = r.digits(12, "account number")
    pin_lmk = r.hex(16, "PIN under LMK")
    r.done()
    return _verdict(engine.verify_pin_dukpt(bdk, ksn, block, account, pin_lmk, PIN_FORMAT_ISO0))


def _ra(engine: HsmEngine, r: FieldReader) -> bytes:
    """Cancel the Authorised state: handled in `handle`, which holds the state."""
    r.done()
    return _ok()


HANDLERS: dict[str, Handler] = {
    "NC": _nc,
    "A0": _a0,
    "A4": _a4,
    "HC": _hc,
    "NE": _ne,
    "BU": _bu,
    "M6": _m6,
    "M8": _m8,
    "BA": _ba,
    "JC": _jc,
    "BC": _bc,
    "GU": _gu,
    "RA": _ra,
}


def handle(engine: HsmEngine, payload: bytes, state: AuthorisedState | None = None) -> bytes:
    """Answer one request payload (without the length prefix). Never raises.

    `state` is the HSM's Authorised state; None (a bare engine) is never authorised.
    """
    header = payload[:HEADER_LEN].ljust(HEADER_LEN, b" ")
    raw_cmd = payload[HEADER_LEN : HEADER_LEN + 2]
    try:
        command = raw_cmd.decode("ascii")
    except UnicodeDecodeError:
        command = ""
    if len(payload) < HEADER_LEN + 2 or len(command) != 2 or not command.isalnum():
        return header + b"ZZ" + ProtocolError.code.encode()
    reply = response_code(command).encode()
    handler = HANDLERS.get(command)
    if handler is None:
        return header + reply + CommandError.code.encode()
    try:
        if command in AUTHORISED_COMMANDS and (state is None or not state.active):
            raise NotAuthorisedError(f"{command} needs the authorised state")
        body = handler(engine, FieldReader(payload[HEADER_LEN + 2 :]))
        if command == "RA" and state is not None:
            state.cancel()
            log.warning("authorised state cancelled by host command RA")
    except NotAuthorisedError as exc:
        log.warning("%s refused: %s (%s)", command, exc, exc.code)
        body = exc.code.encode()
    except HsmError as exc:
        log.info("%s rejected: %s (%s)", command, exc, exc.code)
        body = exc.code.encode()
    except Exception:  # a bug must cost one request, never the server
        log.exception("%s failed unexpectedly", command)
        body = INTERNAL_ERROR.encode()
    return header + reply + body


__all__ = ["HANDLERS", "FieldReader", "handle", "parse_key_type", "response_code"]
