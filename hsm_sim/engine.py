"""The HSM's operations over keys under the LMK: the one place where keys are in clear.

Both the in-process client and the TCP server call this engine, so both behave the same.
Clear keys live only in local variables of these methods; what goes out is a key under the
LMK (a ``U`` token), a key under a terminal master key, a check value, a MAC, or a verdict.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass

from hsm_sim import primitives as p
from hsm_sim.errors import (
    InputError,
    KeyLengthError,
    KeyParityError,
    KeyTypeError,
    PinBlockFormatError,
)
from hsm_sim.lmk import KeyType, Lmk
from hsm_sim.working import DEFAULT_CAPACITY, RetailMacKey, WorkingKeys

MAC_KEY_TYPES = (KeyType.TAK, KeyType.ZAK)
PIN_KEY_TYPES = (KeyType.TPK, KeyType.ZPK)
KEK_TYPES = (KeyType.TMK, KeyType.ZMK)
# What may leave the HSM under which key-encrypting key. A BDK never does: a terminal gets
# its IPEK from a key-injection facility, never the key that derives every terminal's keys.
EXPORTABLE = {
    KeyType.TMK: (KeyType.TAK, KeyType.TPK, KeyType.TMK),
    KeyType.ZMK: (KeyType.ZPK, KeyType.ZAK, KeyType.ZMK, KeyType.TMK, KeyType.TAK, KeyType.TPK),
}
PIN_FORMAT_ISO0 = "01"  # payShield PIN block format code of ISO 9564-1 format 0


@dataclass(frozen=True)
class GeneratedKey:
    """A key under the LMK and its 6-hex-digit check value."""

    key_lmk: str
    kcv: str


@dataclass(frozen=True)
class ExportedKey:
    """A key under the LMK, the same key under a KEK (32 hex digits), and its check value."""

    key_lmk: str
    key_kek: str
    kcv: str


@dataclass(frozen=True)
class KeyComponent:
    """One clear component (32 hex digits) of a split key, with its own check value."""

    component: str
    kcv: str


def _kcv6(clear: bytes) -> str:
    return p.kcv(clear).hex().upper()


def _new_des_key() -> bytes:
    while True:
        key = p.des_odd_parity(os.urandom(16))
        if key[:8] != key[8:]:  # never a degenerate (single-DES) double-length key
            return key


def _require(key_type: KeyType, allowed: Sequence[KeyType], what: str) -> None:
    if key_type not in allowed:
        names = "/".join(t.name for t in allowed)
        raise KeyTypeError(f"{what} needs a {names} key, not {key_type.name}")


class HsmEngine:
    """HSM operations over an LMK. Thread-safe: its one mutable part, the working MAC keys
    kept ready (`hsm_sim.working`), locks itself."""

    def __init__(self, lmk: Lmk, working_keys: int = DEFAULT_CAPACITY) -> None:
        self._lmk = lmk
        self._working = WorkingKeys(working_keys)

    def forget_working_key(self, key_lmk: str) -> bool:
        """Drop a MAC key kept ready (its terminal has a new one); True when one was held."""
        return self._working.forget(key_lmk)

    def holds_working_key(self, key_lmk: str) -> bool:
        """Whether a MAC key is kept ready for ``key_lmk`` (its schedule, never the key)."""
        return self._working.holds(key_lmk)

    # ------------------------------------------------------------------ keys

    def lmk_check_value(self) -> str:
        return self._lmk.check_value()

    def generate_key(self, key_type: KeyType) -> GeneratedKey:
        """A fresh random double-length key of ``key_type``, under the LMK."""
        clear = _new_des_key()
        return GeneratedKey(self._lmk.wrap(clear, key_type), _kcv6(clear))

    def form_key(self, key_type: KeyType, components: Sequence[bytes]) -> GeneratedKey:
        """Form a key from clear components (XOR), e.g. to load a BDK or a known TMK."""
        if not 2 <= len(components) <= 9:
            raise InputError(f"a key is formed from 2 to 9 components, got {len(components)}")
        key = bytes(16)
        for comp in components:
            if len(comp) != 16:
                raise KeyLengthError(f"a component is 16 bytes, got {len(comp)}")
            key = bytes(a ^ b for a, b in zip(key, comp, strict=True))
        if not p.has_odd_parity(key):
            raise KeyParityError("the components do not XOR to an odd-parity key")
        return GeneratedKey(self._lmk.wrap(key, key_type), _kcv6(key))

    def kcv(self, key_lmk: str, key_type: KeyType) -> str:
        """The 6-hex-digit check value of a key under the LMK."""
        return _kcv6(self._lmk.unwrap(key_lmk, key_type))

    def generate_exported_key(
        self, key_type: KeyType, kek_lmk: str, kek_type: KeyType = KeyType.TMK
    ) -> ExportedKey:
        """A fresh key of ``key_type`` under the LMK and under a TMK/ZMK (A0 mode 1, HC)."""
        _require(kek_type, KEK_TYPES, "export")
        if key_type not in EXPORTABLE[kek_type]:
            raise KeyTypeError(f"a {key_type.name} is never sent under a {kek_type.name}")
        kek = self._lmk.unwrap(kek_lmk, kek_type)
        clear = _new_des_key()
        return ExportedKey(
            self._lmk.wrap(clear, key_type),
            p.tdes_encrypt_ecb(kek, clear).hex().upper(),
            _kcv6(clear),
        )

    def split_key(self, key_lmk: str, key_type: KeyType, count: int = 2) -> list[KeyComponent]:
        """Split a key into ``count`` clear components whose XOR is the key (key injection).

        All but the last component are random odd-parity keys; the last one makes the XOR
        come out exactly, so its parity follows from the count.
        """
        if not 2 <= count <= 9:
            raise InputError(f"a key is split into 2 to 9 components, got {count}")
        clear = self._lmk.unwrap(key_lmk, key_type)
        parts = [_new_des_key() for _ in range(count - 1)]
        last = clear
        for part in parts:
            last = bytes(a ^ b for a, b in zip(last, part, strict=True))
        parts.append(last)
        return [KeyComponent(c.hex().upper(), _kcv6(c)) for c in parts]

    # ------------------------------------------------------------------ MACs

    def generate_mac(
        self, key_lmk: str, data: bytes, key_type: KeyType = KeyType.TAK, padding: int = 1
    ) -> bytes:
        """ISO 9797-1 MAC algorithm 3 (X9.19) of ``data``, 8 bytes."""
        _require(key_type, MAC_KEY_TYPES, "MAC generation")
        return self._mac_key(key_lmk, key_type).mac(data, padding)

    def _mac_key(self, key_lmk: str, key_type: KeyType) -> RetailMacKey:
        """The MAC key kept ready, or unwrapped now (parity checked) and kept."""
        key = self._working.get(key_lmk, key_type) if isinstance(key_lmk, str) else None
        if key is None:
            key = RetailMacKey(self._lmk.unwrap(key_lmk, key_type))
            self._working.put(key_lmk, key_type, key)
        return key

    def verify_mac(
        self,
        key_lmk: str,
        data: bytes,
        mac: bytes,
        key_type: KeyType = KeyType.TAK,
        padding: int = 1,
    ) -> bool:
        """True when ``mac`` (4 to 8 bytes, leftmost of the full MAC) matches ``data``."""
        if not 4 <= len(mac) <= 8:
            raise InputError(f"a MAC to verify is 4 to 8 bytes, got {len(mac)}")
        full = self.generate_mac(key_lmk, data, key_type, padding)
        return hmac.compare_digest(full[: len(mac)], mac)

    # ------------------------------------------------------------------ PINs

    def encrypt_pin(self, pin: str, account12: str) -> str:
        """A clear PIN as a PIN under the LMK (16 hex digits), bound to the account number."""
        return self._lmk.encrypt_pin_block(p.iso0_block_from_account(pin, account12))

    def _pin_from_lmk(self, pin_lmk: str, account12: str) -> str:
        return p.decode_iso0_with_account(self._lmk.decrypt_pin_block(pin_lmk), account12)

    @staticmethod
    def _check_pin_inputs(
        pin_block: bytes, pin_format: str, pin_lmk: str | None = None
    ) -> None:
        """Reject malformed arguments before any key is touched."""
        if pin_format != PIN_FORMAT_ISO0:
            raise PinBlockFormatError(f"PIN block format {pin_format!r} unsupported (only 01)")
        if not isinstance(pin_block, bytes) or len(pin_block) != 8:
            raise InputError("a format 0 PIN block is 8 bytes")
        if pin_lmk is not None:
            try:
                ok = isinstance(pin_lmk, str) and len(bytes.fromhex(pin_lmk)) == 8
            except ValueError:
                ok = False
            if not ok:
                raise InputError("a PIN under the LMK is 16 hex digits")

    def _pin_from_block(self, pin_key: bytes, pin_block: bytes, account12: str) -> str:
        return p.decode_iso0_with_account(p.tdes_decrypt_ecb(pin_key, pin_block), account12)

    def translate_pin_to_lmk(
        self,
        tpk_lmk: str,
        pin_block: bytes,
        account12: str,
        key_type: KeyType = KeyType.TPK,
        pin_format: str = PIN_FORMAT_ISO0,
    ) -> str:
        """A PIN block under a TPK/ZPK re-encrypted as a PIN under the LMK (PIN change)."""
        _require(key_type, PIN_KEY_TYPES, "PIN translation")
        self._check_pin_inputs(pin_block, pin_format)
        tpk = self._lmk.unwrap(tpk_lmk, key_type)
        pin = self._pin_from_block(tpk, pin_block, account12)
        return self.encrypt_pin(pin, account12)

    def verify_pin(
        self,
        tpk_lmk: str,
        pin_block: bytes,
        account12: str,
        pin_lmk: str,
        key_type: KeyType = KeyType.TPK,
        pin_format: str = PIN_FORMAT_ISO0,
    ) -> bool:
        """Comparison method: the PIN in the block equals the stored PIN under the LMK."""
        _require(key_type, PIN_KEY_TYPES, "PIN verification")
        self._check_pin_inputs(pin_block, pin_format, pin_lmk)
        tpk = self._lmk.unwrap(tpk_lmk, key_type)
        entered = self._pin_from_block(tpk, pin_block, account12)
        stored = self._pin_from_lmk(pin_lmk, account12)
        return hmac.compare_digest(entered, stored)

    def verify_pin_dukpt(
        self,
        bdk_lmk: str,
        ksn: bytes,
        pin_block: bytes,
        account12: str,
        pin_lmk: str,
        pin_format: str = PIN_FORMAT_ISO0,
    ) -> bool:
        """As ``verify_pin``, with the PIN block under the X9.24-1 DUKPT PIN key of ``ksn``."""
        self._check_pin_inputs(pin_block, pin_format, pin_lmk)
        p.check_tdes_ksn(ksn)
        bdk = self._lmk.unwrap(bdk_lmk, KeyType.BDK)
        ipek = p.tdes_dukpt_ipek(bdk, ksn)
        pin_key = p.tdes_dukpt_key(ipek, ksn, "pin")
        entered = self._pin_from_block(pin_key, pin_block, account12)
        stored = self._pin_from_lmk(pin_lmk, account12)
        return hmac.compare_digest(entered, stored)
