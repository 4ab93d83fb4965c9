"""The local master key (LMK): its file, and key wrapping under it with key-type variants.

Thales-style variant LMK: a triple-length TDES LMK; before a key is encrypted under it, one
byte that depends on the key type is XORed into the LMK's first byte, and one byte that
depends on which half of a double-length key is being encrypted into its ninth byte. A key
therefore only decrypts to itself under the type it was created for; under any other type it
becomes unrelated bytes, which the parity check rejects (error ``10``).
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers.modes import ECB

from hsm_sim.errors import (
    InputError,
    KeyLengthError,
    KeyParityError,
    KeySchemeError,
    KeyTypeError,
    LmkError,
)
from hsm_sim.primitives import has_odd_parity, tdes_ecb_cipher, tdes_encrypt_ecb

LMK_FILE_FORMAT = "lps-lmk-1"


class KeyType(StrEnum):
    """Key types with their three-character codes (payShield codes where they are distinct)."""

    ZMK = "000"  # zone master key: wraps keys exchanged with another switch
    ZPK = "001"  # zone PIN key
    TMK = "002"  # terminal master key: wraps session keys sent to a terminal
    TAK = "003"  # terminal authentication (MAC) key
    ZAK = "008"  # zone authentication (MAC) key
    BDK = "009"  # DUKPT base derivation key (double-length TDES)
    TPK = "070"  # terminal PIN key (payShield shares 002 with TMK; LPS keeps them apart)


# Variant byte XORed into LMK byte 0, one per key type. Pairwise distinct in the seven
# non-parity bits, so that no two types map to the same effective DES key.
_TYPE_VARIANTS: dict[str, int] = {
    KeyType.ZMK: 0xA6,
    KeyType.ZPK: 0x5A,
    KeyType.TMK: 0x6A,
    KeyType.TAK: 0xDE,
    KeyType.ZAK: 0x2C,
    KeyType.BDK: 0xB2,
    KeyType.TPK: 0x94,
}
PIN_VARIANT = 0xFA  # PINs encrypted under the LMK (the "PIN under LMK" of BA/JC/BC)
# Variant byte XORed into LMK byte 8: left and right half of a double-length key.
_HALF_VARIANTS = (0xA6, 0x5A)


def parse_key_type(code: str | KeyType) -> KeyType:
    """The KeyType for a code ("003") or a name ("TAK"); ``KeyTypeError`` otherwise."""
    if isinstance(code, KeyType):
        return code
    try:
        return KeyType(code)
    except ValueError:
        pass
    try:
        return KeyType[str(code).upper()]
    except KeyError:
        names = ", ".join(f"{t.name} ({t.value})" for t in KeyType)
        raise KeyTypeError(f"unknown key type {code!r}; one of {names}") from None


@dataclass(frozen=True)
class Lmk:
    """A triple-length TDES LMK held in memory; never printed, never sent."""

    key: bytes
    _ciphers: dict[tuple[int, int], Cipher[ECB]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if len(self.key) != 24:
            raise LmkError(f"the LMK is 24 bytes, got {len(self.key)}")
        # one cipher object per variant, built once: the LMK is used on every call
        for tv in [*_TYPE_VARIANTS.values(), PIN_VARIANT]:
            for hv in (*_HALF_VARIANTS, 0):
                k = bytearray(self.key)
                k[0] ^= tv
                k[8] ^= hv
                self._ciphers[(tv, hv)] = tdes_ecb_cipher(bytes(k))

    def __repr__(self) -> str:
        return f"Lmk(check_value={self.check_value()})"

    def check_value(self) -> str:
        """16 hex digits: the LMK encrypting 8 zero bytes (the ``NC`` command's answer)."""
        return tdes_encrypt_ecb(self.key, bytes(8)).hex().upper()

    def _encrypt(self, tv: int, hv: int, data: bytes) -> bytes:
        ctx = self._ciphers[(tv, hv)].encryptor()
        return ctx.update(data) + ctx.finalize()

    def _decrypt(self, tv: int, hv: int, data: bytes) -> bytes:
        if len(data) % 8:
            raise InputError("data under the LMK is a multiple of 8 bytes")
        ctx = self._ciphers[(tv, hv)].decryptor()
        return ctx.update(data) + ctx.finalize()

    def wrap(self, clear: bytes, key_type: KeyType) -> str:
        """A double-length clear key as a ``U`` + 32 hex token under the LMK variant."""
        if len(clear) != 16:
            raise KeyLengthError(f"keys under the LMK are 16 bytes, got {len(clear)}")
        tv = _TYPE_VARIANTS[key_type]
        halves = (
            self._encrypt(tv, hv, clear[i * 8 : i * 8 + 8])
            for i, hv in enumerate(_HALF_VARIANTS)
        )
        return "U" + b"".join(halves).hex().upper()

    def unwrap(self, token: str, key_type: KeyType) -> bytes:
        """The clear key of a ``U`` token of ``key_type``; ``KeyParityError`` if it is not one."""
        if not isinstance(token, str) or not token:
            raise KeySchemeError("a key under the LMK is a string like 'U' + 32 hex digits")
        if token[0] != "U":
            raise KeySchemeError(f"key scheme {token[0]!r} is not supported (only 'U')")
        body = token[1:]
        if len(body) != 32:
            raise KeyLengthError(f"a 'U' key has 32 hex digits, got {len(body)}")
        try:
            enc = bytes.fromhex(body)
        except ValueError:
            raise KeySchemeError("a key under the LMK must be hexadecimal") from None
        tv = _TYPE_VARIANTS[key_type]
        clear = b"".join(
            self._decrypt(tv, hv, enc[i * 8 : i * 8 + 8])
            for i, hv in enumerate(_HALF_VARIANTS)
        )
        if not has_odd_parity(clear):
            raise KeyParityError(
                f"key does not decrypt to an odd-parity {key_type.name} under the LMK "
                "(wrong key type, or a damaged key)"
            )
        return clear

    def encrypt_pin_block(self, block: bytes) -> str:
        """An 8-byte clear PIN block as 16 hex digits under the LMK's PIN variant."""
        if len(block) != 8:
            raise InputError(f"a PIN block is 8 bytes, got {len(block)}")
        return self._encrypt(PIN_VARIANT, 0, block).hex().upper()

    def decrypt_pin_block(self, pin_lmk: str) -> bytes:
        """The clear PIN block of a PIN under the LMK."""
        return self._decrypt(PIN_VARIANT, 0, bytes.fromhex(pin_lmk))


def create_lmk_file(path: str | os.PathLike[str], force: bool = False) -> Lmk:
    """Create a fresh random LMK in ``path`` with mode 0600.

    Refuses to replace an existing file unless ``force``; the file appears atomically, so a
    crash never leaves a half-written LMK.
    """
    path = Path(path)
    if path.exists() and not force:
        raise LmkError(f"{path} exists; refusing to overwrite an LMK without --force")
    lmk = Lmk(os.urandom(24))
    doc = {
        "format": LMK_FILE_FORMAT,
        "lmk": lmk.key.hex().upper(),
        "check_value": lmk.check_value(),
    }
    tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)  # the umask may have narrowed it further; never widen it
        if force:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if someone created path meanwhile
            except FileExistsError:
                raise LmkError(f"{path} exists; refusing to overwrite an LMK") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return lmk


def load_lmk(path: str | os.PathLike[str]) -> Lmk:
    """Read the LMK file; refuses a file that group or others may read or write."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise LmkError(f"no LMK file at {path}; create it: lps-hsm init --lmk {path}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise LmkError(
            f"{path} has mode {stat.S_IMODE(st.st_mode):04o}; an LMK file must be 0600 "
            f"(chmod 600 {path})"
        )
    try:
        doc = json.loads(path.read_text())
        if doc.get("format") != LMK_FILE_FORMAT:
            raise LmkError(f"{path} is not an {LMK_FILE_FORMAT} file")
        lmk = Lmk(bytes.fromhex(doc["lmk"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LmkError(f"{path} is not a valid LMK file: {exc}") from None
    if lmk.check_value() != doc.get("check_value"):
        raise LmkError(f"{path}: LMK check value mismatch (file damaged)")
    return lmk
