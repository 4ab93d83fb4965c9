"""Clear-key cryptographic primitives: bytes in, bytes out.

These functions know nothing of the LMK or the server; the HSM engine calls them after it has
unwrapped a key, and an outside known-answer suite can call them directly. PINs and PANs are
decimal digit strings, everything else is ``bytes``.

TDES uses ``cryptography``'s decrepit ``TripleDES`` with 24-byte keys only (a 16-byte key
K1K2 becomes K1K2K1, a single DES key K becomes KKK) so that no deprecation warning is raised.

One module, past 400 lines, on purpose: a flat list of small, independent functions (DES,
key check values, PIN blocks, MACs, DUKPT) that a known-answer suite imports from one place.
"""

from __future__ import annotations

import os
from typing import Literal

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext
from cryptography.hazmat.primitives.ciphers.algorithms import AES
from cryptography.hazmat.primitives.ciphers.modes import CBC, ECB
from cryptography.hazmat.primitives.cmac import CMAC

from hsm_sim.errors import (
    DukptError,
    InputError,
    KeyLengthError,
    PanError,
    PinBlockError,
    PinError,
)

__all__ = [
    "aes_cmac",
    "aes_dukpt_initial_key",
    "aes_dukpt_key",
    "check_tdes_ksn",
    "decode_pin_block_iso0",
    "decrypt_pin_block_iso4",
    "des_odd_parity",
    "encrypt_pin_block_iso4",
    "has_odd_parity",
    "kcv",
    "pan_field_iso4",
    "pin_block_iso0",
    "retail_mac",
    "tdes_cbc_encrypt",
    "tdes_cmac",
    "tdes_decrypt_ecb",
    "tdes_dukpt_ipek",
    "tdes_dukpt_key",
    "tdes_ecb_cipher",
    "tdes_encrypt_ecb",
]

_ZERO8 = bytes(8)
_ZERO16 = bytes(16)


# --------------------------------------------------------------------------- helpers


def _need_bytes(name: str, value: object) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise InputError(f"{name} must be bytes, not {type(value).__name__}")
    return bytes(value)


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def _tdes_key24(key: bytes) -> bytes:
    """Expand a single (8), double (16) or triple (24) length DES key to 24 bytes."""
    key = _need_bytes("TDES key", key)
    if len(key) == 8:
        return key * 3
    if len(key) == 16:
        return key + key[:8]
    if len(key) == 24:
        return key
    raise KeyLengthError(f"a DES/TDES key is 8, 16 or 24 bytes, got {len(key)}")


def tdes_ecb_cipher(key: bytes) -> Cipher[ECB]:
    """A reusable TDES-ECB cipher object for a long-lived key (the LMK's variants).

    Working keys are not cached anywhere: no clear key outlives the call that used it.
    """
    return Cipher(TripleDES(_tdes_key24(key)), ECB())


def _tdes_ecb(key24: bytes) -> Cipher[ECB]:
    return Cipher(TripleDES(key24), ECB())


def _aes_key(key: bytes, allowed: tuple[int, ...] = (16, 24, 32)) -> bytes:
    key = _need_bytes("AES key", key)
    if len(key) not in allowed:
        sizes = ", ".join(str(n) for n in allowed)
        raise KeyLengthError(f"an AES key here is {sizes} bytes, got {len(key)}")
    return key


def _run(ctx: CipherContext, data: bytes) -> bytes:
    return ctx.update(data) + ctx.finalize()


def tdes_encrypt_ecb(key: bytes, data: bytes) -> bytes:
    """TDES-ECB encrypt ``data`` (a multiple of 8 bytes) under an 8, 16 or 24-byte key."""
    data = _need_bytes("data", data)
    if len(data) % 8:
        raise InputError(f"TDES-ECB data must be a multiple of 8 bytes, got {len(data)}")
    return _run(_tdes_ecb(_tdes_key24(key)).encryptor(), data)


def tdes_decrypt_ecb(key: bytes, data: bytes) -> bytes:
    """TDES-ECB decrypt ``data`` (a multiple of 8 bytes) under an 8, 16 or 24-byte key."""
    data = _need_bytes("data", data)
    if len(data) % 8:
        raise InputError(f"TDES-ECB data must be a multiple of 8 bytes, got {len(data)}")
    return _run(_tdes_ecb(_tdes_key24(key)).decryptor(), data)


def tdes_cbc_encrypt(key: bytes, data: bytes, iv: bytes = _ZERO8) -> bytes:
    """TDES-CBC encrypt ``data`` (a multiple of 8 bytes), zero IV unless given."""
    data = _need_bytes("data", data)
    if len(data) % 8:
        raise InputError(f"TDES-CBC data must be a multiple of 8 bytes, got {len(data)}")
    if len(iv) != 8:
        raise InputError("a TDES IV is 8 bytes")
    return _run(Cipher(TripleDES(_tdes_key24(key)), CBC(iv)).encryptor(), data)


def _aes_ecb_encrypt(key: bytes, data: bytes) -> bytes:
    return _run(Cipher(AES(key), ECB()).encryptor(), data)


def _aes_ecb_decrypt(key: bytes, data: bytes) -> bytes:
    return _run(Cipher(AES(key), ECB()).decryptor(), data)


def has_odd_parity(key: bytes) -> bool:
    """True when every byte of a DES key has an odd number of one bits."""
    return all(bin(b).count("1") % 2 == 1 for b in key)


def des_odd_parity(key: bytes) -> bytes:
    """Set the low bit of every byte so that each byte has odd parity."""
    return bytes((b & 0xFE) | ((bin(b & 0xFE).count("1") + 1) % 2) for b in key)


# --------------------------------------------------------------------------- KCV and MACs


def kcv(key: bytes, algorithm: Literal["tdes", "aes"] = "tdes", length: int = 3) -> bytes:
    """Key check value: TDES encrypts 8 zero bytes, AES takes the CMAC of 16 zero bytes.

    ``length`` is how many leftmost bytes to keep (the whole block at most).
    """
    if algorithm == "tdes":
        block = tdes_encrypt_ecb(key, _ZERO8)
    elif algorithm == "aes":
        block = aes_cmac(key, _ZERO16)
    else:
        raise InputError(f"KCV algorithm must be 'tdes' or 'aes', not {algorithm!r}")
    if not isinstance(length, int) or not 1 <= length <= len(block):
        raise InputError(f"KCV length must be 1..{len(block)} bytes, got {length!r}")
    return block[:length]


def _pad_iso9797(data: bytes, padding: int) -> bytes:
    if padding == 1:
        if not data:
            return _ZERO8
        return data + bytes(-len(data) % 8)
    if padding == 2:
        data = data + b"\x80"
        return data + bytes(-len(data) % 8)
    raise InputError(f"ISO 9797-1 padding method must be 1 or 2, got {padding!r}")


def retail_mac(key: bytes, data: bytes, padding: int = 1) -> bytes:
    """ISO 9797-1 MAC algorithm 3 (ANSI X9.19 retail MAC) with a double-length key.

    Single-DES CBC under K1 over every block, then the last block is decrypted under K2 and
    encrypted again under K1. Returns the full 8-byte MAC; truncate as the protocol says.
    """
    key = _need_bytes("MAC key", key)
    if len(key) != 16:
        raise KeyLengthError(f"a retail MAC key is 16 bytes (K1 K2), got {len(key)}")
    padded = _pad_iso9797(_need_bytes("data", data), padding)
    # E_K1(D_K2(E_K1(x))) is two-key TDES, so the output transformation folds into the last
    # block: single-DES CBC under K1 up to the last block, then TDES of (chain xor last).
    last = padded[-8:]
    if len(padded) > 8:
        last = _xor(tdes_cbc_encrypt(key[:8], padded[:-8])[-8:], last)
    return tdes_encrypt_ecb(key, last)


def aes_cmac(key: bytes, data: bytes) -> bytes:
    """AES-CMAC (NIST SP 800-38B, RFC 4493), full 16 bytes."""
    mac = CMAC(AES(_aes_key(key)))
    mac.update(_need_bytes("data", data))
    return mac.finalize()


def tdes_cmac(key: bytes, data: bytes) -> bytes:
    """TDES-CMAC (NIST SP 800-38B with the 64-bit block cipher), full 8 bytes."""
    mac = CMAC(TripleDES(_tdes_key24(key)))
    mac.update(_need_bytes("data", data))
    return mac.finalize()


# --------------------------------------------------------------------------- PIN blocks


def is_ascii_digits(text: str) -> bool:
    """ASCII `0-9` only, at least one: `str.isdigit` alone accepts '²', '٥' and '５'."""
    return text.isascii() and text.isdigit()


def _check_pin(pin: object) -> str:
    if not isinstance(pin, str) or not is_ascii_digits(pin):
        raise PinError("a PIN is a string of decimal digits")
    if not 4 <= len(pin) <= 12:
        raise PinError(f"a PIN has 4 to 12 digits, got {len(pin)}")
    return pin


def _check_pan(pan: object, min_len: int = 13) -> str:
    if not isinstance(pan, str) or not is_ascii_digits(pan):
        raise PanError("a PAN is a string of decimal digits")
    if not min_len <= len(pan) <= 19:
        raise PanError(f"a PAN here has {min_len} to 19 digits, got {len(pan)}")
    return pan


def account_number(pan: str) -> str:
    """The 12 rightmost PAN digits excluding the check digit (the payShield account field)."""
    return _check_pan(pan)[-13:-1]


def _iso0_pan_field(account12: str) -> bytes:
    if len(account12) != 12 or not is_ascii_digits(account12):
        raise PanError("the account number field is 12 decimal digits")
    return bytes.fromhex("0000" + account12)


def iso0_block_from_account(pin: str, account12: str) -> bytes:
    """ISO 9564 format 0 clear block from a PIN and a 12-digit account number field."""
    pin = _check_pin(pin)
    pin_field = bytes.fromhex(f"0{len(pin):X}{pin}".ljust(16, "F"))
    return _xor(pin_field, _iso0_pan_field(account12))


def _pin_from_field(field: str, fmt: str, fill: str) -> str:
    """The PIN of a clear PIN field (hex): format nibble, length nibble, digits, fill."""
    if field[0] != fmt:
        raise PinBlockError(f"format {fmt} PIN block starts with nibble {field[0]}, not {fmt}")
    n = int(field[1], 16)
    if not 4 <= n <= 12:
        raise PinBlockError(f"PIN length nibble {n} is outside 4..12")
    pin, filler = field[2 : 2 + n], field[2 + n :]
    if not is_ascii_digits(pin):
        raise PinBlockError("PIN block holds non-decimal PIN digits")
    if filler != fill * len(filler):
        raise PinBlockError(f"PIN block filler is not all {fill}")
    return pin


def decode_iso0_with_account(block: bytes, account12: str) -> str:
    """Recover the PIN from a clear format 0 block and a 12-digit account number field."""
    block = _need_bytes("PIN block", block)
    if len(block) != 8:
        raise PinBlockError(f"a format 0 PIN block is 8 bytes, got {len(block)}")
    return _pin_from_field(_xor(block, _iso0_pan_field(account12)).hex().upper(), "0", "F")


def pin_block_iso0(pin: str, pan: str) -> bytes:
    """Clear ISO 9564-1 format 0 PIN block (8 bytes) for a 4..12 digit PIN and a PAN."""
    return iso0_block_from_account(pin, account_number(pan))


def decode_pin_block_iso0(block: bytes, pan: str) -> str:
    """Recover the PIN from a clear format 0 PIN block; ``PinBlockError`` if malformed."""
    return decode_iso0_with_account(block, account_number(pan))


def pan_field_iso4(pan: str) -> bytes:
    """ISO 9564-1 format 4 plain-text PAN field (16 bytes).

    Nibble 0 is the PAN length minus 12, then the PAN (left-padded with zeros to 12 digits
    when shorter), then zero nibbles.
    """
    if not isinstance(pan, str) or not is_ascii_digits(pan):
        raise PanError("a PAN is a string of decimal digits")
    if len(pan) > 19:
        raise PanError(f"a PAN has at most 19 digits, got {len(pan)}")
    m = max(len(pan) - 12, 0)
    return bytes.fromhex((f"{m}" + pan.rjust(12, "0")).ljust(32, "0"))


def _iso4_pin_field(pin: str, random_fill: bytes | None) -> bytes:
    pin = _check_pin(pin)
    head = f"4{len(pin):X}{pin}".ljust(16, "A")
    if random_fill is None:
        random_fill = os.urandom(8)
    elif len(random_fill) != 8:
        raise InputError(f"ISO format 4 random fill is 8 bytes, got {len(random_fill)}")
    return bytes.fromhex(head) + random_fill


def encrypt_pin_block_iso4(
    key: bytes, pin: str, pan: str, random_fill: bytes | None = None
) -> bytes:
    """ISO 9564-1 format 4 (AES) enciphered PIN block: E(E(P) xor A).

    ``random_fill`` (8 bytes, the right half of the PIN field) defaults to fresh random bytes;
    pass it only to reproduce a published vector.
    """
    key = _aes_key(key)
    p = _iso4_pin_field(pin, random_fill)
    a = pan_field_iso4(pan)
    return _aes_ecb_encrypt(key, _xor(_aes_ecb_encrypt(key, p), a))


def decrypt_pin_block_iso4(key: bytes, block: bytes, pan: str) -> str:
    """Recover the PIN from a format 4 enciphered PIN block; ``PinBlockError`` if malformed."""
    key = _aes_key(key)
    block = _need_bytes("PIN block", block)
    if len(block) != 16:
        raise PinBlockError(f"a format 4 PIN block is 16 bytes, got {len(block)}")
    p = _aes_ecb_decrypt(key, _xor(_aes_ecb_decrypt(key, block), pan_field_iso4(pan)))
    return _pin_from_field(p[:8].hex().upper(), "4", "A")


# --------------------------------------------------------------------------- TDES DUKPT

_KEY_MASK = bytes.fromhex("C0C0C0C000000000C0C0C0C000000000")
_TDES_COUNTER_BITS = 21
_TDES_COUNTER_MASK = (1 << _TDES_COUNTER_BITS) - 1
_TDES_VARIANTS = {
    "transaction": bytes(16),
    "pin": bytes.fromhex("00000000000000FF00000000000000FF"),
    "mac_request": bytes.fromhex("000000000000FF00000000000000FF00"),
    "mac_response": bytes.fromhex("00000000FF00000000000000FF000000"),
    "data_request": bytes.fromhex("0000000000FF00000000000000FF0000"),
    "data_response": bytes.fromhex("000000FF00000000000000FF00000000"),
}
TDES_DUKPT_USAGES = tuple(_TDES_VARIANTS)


def _check_tdes_ksn(ksn: bytes) -> bytes:
    ksn = _need_bytes("KSN", ksn)
    if len(ksn) != 10:
        raise DukptError(f"a TDES DUKPT KSN is 10 bytes, got {len(ksn)}")
    return ksn


def check_tdes_ksn(ksn: bytes) -> bytes:
    """The KSN if a conforming X9.24-1 device can send it; ``DukptError`` otherwise."""
    ksn = _check_tdes_ksn(ksn)
    counter = int.from_bytes(ksn[-3:], "big") & _TDES_COUNTER_MASK
    if counter == 0:
        raise DukptError("KSN transaction counter is 0: no transaction key exists for it")
    if counter.bit_count() > 10:
        raise DukptError(f"KSN counter {counter:#x} has more than 10 one bits (X9.24-1)")
    return ksn


def tdes_dukpt_ipek(bdk: bytes, ksn: bytes) -> bytes:
    """ANSI X9.24-1 initial PIN encryption key (IPEK) from a double-length BDK and a KSN."""
    bdk = _need_bytes("BDK", bdk)
    if len(bdk) != 16:
        raise KeyLengthError(f"a TDES DUKPT BDK is 16 bytes, got {len(bdk)}")
    reg = int.from_bytes(_check_tdes_ksn(ksn), "big") & ~_TDES_COUNTER_MASK
    data = (reg >> 16).to_bytes(8, "big")
    left = tdes_encrypt_ecb(bdk, data)
    right = tdes_encrypt_ecb(_xor(bdk, _KEY_MASK), data)
    return left + right


def _nrkgp(key: bytes, reg: bytes) -> bytes:
    """X9.24-1 non-reversible key generation process (one step of the future-key tree)."""
    right = _xor(tdes_encrypt_ecb(key[:8], _xor(key[8:], reg)), key[8:])
    key2 = _xor(key, _KEY_MASK)
    left = _xor(tdes_encrypt_ecb(key2[:8], _xor(key2[8:], reg)), key2[8:])
    return left + right


def tdes_dukpt_key(ipek: bytes, ksn: bytes, usage: str = "transaction") -> bytes:
    """The X9.24-1 key for ``ksn``: the transaction (future) key, or one of its variants.

    ``usage``: "transaction", "pin", "mac_request", "mac_response", "data_request",
    "data_response". The data variants are further encrypted under themselves, as in
    X9.24-1:2009.
    """
    ipek = _need_bytes("IPEK", ipek)
    if len(ipek) != 16:
        raise KeyLengthError(f"a TDES DUKPT IPEK is 16 bytes, got {len(ipek)}")
    if usage not in _TDES_VARIANTS:
        raise InputError(f"unknown TDES DUKPT usage {usage!r}; one of {TDES_DUKPT_USAGES}")
    ksn = check_tdes_ksn(ksn)
    tail = int.from_bytes(ksn[2:], "big")
    counter = tail & _TDES_COUNTER_MASK
    reg = tail & ~_TDES_COUNTER_MASK
    key = ipek
    bit = 1 << (_TDES_COUNTER_BITS - 1)
    while bit:
        if counter & bit:
            reg |= bit
            key = _nrkgp(key, reg.to_bytes(8, "big"))
        bit >>= 1
    key = _xor(key, _TDES_VARIANTS[usage])
    if usage in ("data_request", "data_response"):
        key = tdes_encrypt_ecb(key, key[:8]) + tdes_encrypt_ecb(key, key[8:])
    return key


# --------------------------------------------------------------------------- AES DUKPT

# X9.24-3 key usage indicators and key types (algorithm indicator, length in bits)
_AES_USAGES = {
    "transaction": 0x8000,  # the intermediate derivation key itself
    "pin": 0x1000,
    "mac_generate": 0x2000,
    "mac_verify": 0x2001,
    "mac_both": 0x2002,
    "data_encrypt": 0x3000,
    "data_decrypt": 0x3001,
    "data_both": 0x3002,
    "kek": 0x0002,
}
AES_DUKPT_USAGES = tuple(_AES_USAGES)
_AES_KEY_TYPES = {16: (0x0002, 128), 24: (0x0003, 192), 32: (0x0004, 256)}


def _aes_derive(key: bytes, usage: int, out_len: int, tail: bytes) -> bytes:
    """X9.24-3 key derivation: AES-ECB of the derivation data block(s) under ``key``."""
    algorithm, bits = _AES_KEY_TYPES[out_len]
    out = b""
    for counter in range(1, (out_len + 15) // 16 + 1):
        data = bytes([1, counter]) + usage.to_bytes(2, "big") + algorithm.to_bytes(2, "big")
        out += _aes_ecb_encrypt(key, data + bits.to_bytes(2, "big") + tail)
    return out[:out_len]


def aes_dukpt_initial_key(bdk: bytes, initial_key_id: bytes) -> bytes:
    """X9.24-3 initial key from an AES BDK and the 8-byte initial key ID (same size as BDK)."""
    bdk = _aes_key(bdk)
    initial_key_id = _need_bytes("initial key ID", initial_key_id)
    if len(initial_key_id) != 8:
        raise DukptError(f"an AES DUKPT initial key ID is 8 bytes, got {len(initial_key_id)}")
    return _aes_derive(bdk, 0x8001, len(bdk), initial_key_id)


def aes_dukpt_key(initial_key: bytes, ksn: bytes, usage: str = "transaction") -> bytes:
    """X9.24-3 key for a 12-byte KSN (initial key ID + 32-bit counter).

    "transaction" gives the intermediate derivation key for the counter; the other usages
    give the AES-128 working key of that usage ("pin" is key usage 1000).
    """
    initial_key = _aes_key(initial_key)
    ksn = _need_bytes("KSN", ksn)
    if len(ksn) != 12:
        raise DukptError(f"an AES DUKPT KSN is 12 bytes, got {len(ksn)}")
    if usage not in _AES_USAGES:
        raise InputError(f"unknown AES DUKPT usage {usage!r}; one of {AES_DUKPT_USAGES}")
    counter = int.from_bytes(ksn[8:], "big")
    if counter == 0:
        raise DukptError("KSN transaction counter is 0: no transaction key exists for it")
    if counter.bit_count() > 16:
        raise DukptError(f"KSN counter {counter:#x} has more than 16 one bits (X9.24-3)")
    id_right = ksn[4:8]
    key = initial_key
    reg = 0
    bit = 1 << 31
    while bit:
        if counter & bit:
            reg |= bit
            key = _aes_derive(key, 0x8000, len(key), id_right + reg.to_bytes(4, "big"))
        bit >>= 1
    if usage == "transaction":
        return key
    return _aes_derive(key, _AES_USAGES[usage], 16, id_right + counter.to_bytes(4, "big"))
