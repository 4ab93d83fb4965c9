"""Terminal-side cryptography of docs/protocol.md §6: unwrap the session MAC key sent under the
terminal master key (TMK), check its KCV, and compute the X9.19 retail MAC.

The agent is a terminal: it holds its own TMK (from its config, the terminal's key storage)
and the session MAC key in memory only; the switch side never sees either in clear.
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

MAC_MTIS = frozenset({"0200", "0220", "0221", "0400", "0401", "0420", "0421", "0500"})


class KeyError_(ValueError):
    """A key that cannot be used (bad length, wrong check value)."""


def _tdes(key: bytes) -> Cipher[modes.ECB]:
    if len(key) == 8:
        key = key * 3  # single DES as TDES with K1 = K2 = K3
    elif len(key) == 16:
        key = key + key[:8]
    return Cipher(TripleDES(key), modes.ECB())


def _enc(key: bytes, block: bytes) -> bytes:
    e = _tdes(key).encryptor()
    return e.update(block) + e.finalize()


def _dec(key: bytes, block: bytes) -> bytes:
    d = _tdes(key).decryptor()
    return d.update(block) + d.finalize()


def kcv(key: bytes, length: int = 3) -> str:
    """Key check value: the key encrypting 8 zero bytes, first `length` bytes, hex."""
    return _enc(key, bytes(8))[:length].hex().upper()


def unwrap(tmk: bytes, wrapped_hex: str, check: str) -> bytes:
    """A session key sent as TDES-ECB under the TMK; refused unless its KCV matches."""
    try:
        wrapped = bytes.fromhex(wrapped_hex)
    except ValueError:
        raise KeyError_("wrapped key is not hex") from None
    if len(wrapped) != 16:
        raise KeyError_(f"wrapped key is {len(wrapped)} bytes, expected 16")
    key = _dec(tmk, wrapped)
    if not hmac.compare_digest(kcv(key, len(check) // 2), check.upper()):
        raise KeyError_("check value of the new key does not match")
    return key


def retail_mac(key: bytes, data: bytes) -> bytes:
    """ISO 9797-1 MAC algorithm 3 (ANSI X9.19), padding method 1 (zeros), 8 bytes."""
    if len(key) != 16:
        raise KeyError_("the MAC key must be double-length (16 bytes)")
    k1, k2 = key[:8], key[8:]
    if not data or len(data) % 8:
        data += bytes(8 - len(data) % 8)  # padding method 1; an empty input is one zero block
    enc = _tdes(k1).encryptor()
    chain = b""
    for i in range(0, len(data), 8):
        chain = enc.update(bytes(a ^ b for a, b in zip(data[i : i + 8], chain or bytes(8),
                                                       strict=True)))
    return _enc(k1, _dec(k2, chain))


def parse_key(text: str) -> bytes:
    """A double-length TDES key given as 32 hex digits."""
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise KeyError_("must be 32 hex digits") from None
    if len(key) != 16:
        raise KeyError_("must be 32 hex digits (a double-length TDES key)")
    return key
