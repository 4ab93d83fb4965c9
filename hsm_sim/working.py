"""Working MAC keys kept ready inside the HSM: cipher contexts built once per key, not per call.

A MAC under a TAK costs two TDES unwraps under the LMK (with a parity check) and two fresh
OpenSSL cipher contexts; the MAC itself is a few block operations. Real HSMs keep the key
schedules of working keys they use often; so does this one, inside `hsm_sim` only
(docs/hsm.md §2, "Working keys kept ready"). A cached entry is found by the key *under the
LMK* and its type, so a terminal's new session key is a new entry at once, and an entry is
made only from a key that unwrapped with odd parity under that type: what is refused without
the cache is refused with it. No entry holds the clear key as a Python object, prints it, or
outlives `capacity` more recently used keys.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers.modes import CBC, ECB

from hsm_sim.errors import InputError, KeyLengthError
from hsm_sim.lmk import KeyType

_ZERO8 = bytes(8)
DEFAULT_CAPACITY = 4096  # working keys kept ready: a switch's busiest terminals' TAKs


class RetailMacKey:
    """ISO 9797-1 MAC algorithm 3 (X9.19, as `primitives.retail_mac`) under one key.

    Both contexts live as long as the key: a CBC encryptor under K1 whose chaining value
    carries over from one MAC to the next (the first block of each message is XORed with it,
    which is a fresh CBC with a zero IV), and an ECB encryptor under K1K2K1 for the output
    transformation. A lock keeps the carried chaining value right across threads.
    """

    __slots__ = ("_cbc", "_chain", "_ecb", "_lock")

    def __init__(self, key: bytes) -> None:
        if len(key) != 16:
            raise KeyLengthError(f"a retail MAC key is 16 bytes (K1 K2), got {len(key)}")
        self._cbc = Cipher(TripleDES(key[:8] * 3), CBC(_ZERO8)).encryptor()
        self._ecb = Cipher(TripleDES(key + key[:8]), ECB()).encryptor()
        self._chain = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "RetailMacKey(<kept inside the HSM>)"

    def mac(self, data: bytes, padding: int = 1) -> bytes:
        """The full 8-byte MAC of `data` (ISO 9797-1 padding method 1 or 2)."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InputError(f"data must be bytes, not {type(data).__name__}")
        if padding == 1:
            padded = bytes(data) + bytes(-len(data) % 8) if data else _ZERO8
        elif padding == 2:
            padded = bytes(data) + b"\x80" + bytes(-(len(data) + 1) % 8)
        else:
            raise InputError(f"ISO 9797-1 padding method must be 1 or 2, got {padding!r}")
        last = int.from_bytes(padded[-8:], "big")
        with self._lock:
            if len(padded) > 8:
                first = int.from_bytes(padded[:8], "big") ^ self._chain
                chained = self._cbc.update(first.to_bytes(8, "big") + padded[8:-8])
                self._chain = int.from_bytes(chained[-8:], "big")
                last ^= self._chain
            return self._ecb.update(last.to_bytes(8, "big"))


class WorkingKeys:
    """The most recently used MAC keys, by key under the LMK and type (least recent out)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 0:
            raise InputError(f"the working-key capacity is 0 or more, got {capacity}")
        self.capacity = capacity
        self._keys: OrderedDict[str, tuple[KeyType, RetailMacKey]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, key_lmk: str, key_type: KeyType) -> RetailMacKey | None:
        """The ready key for `key_lmk` used as `key_type`, or None (unwrap it then `put`)."""
        with self._lock:
            entry = self._keys.get(key_lmk)
            if entry is None or entry[0] != key_type:
                return None
            self._keys.move_to_end(key_lmk)
            return entry[1]

    def put(self, key_lmk: str, key_type: KeyType, key: RetailMacKey) -> None:
        """Keep `key` (which unwrapped as `key_type`), dropping the least recently used."""
        if not self.capacity:
            return
        with self._lock:
            self._keys[key_lmk] = (key_type, key)
            self._keys.move_to_end(key_lmk)
            while len(self._keys) > self.capacity:
                self._keys.popitem(last=False)

    def holds(self, key_lmk: str) -> bool:
        with self._lock:
            return key_lmk in self._keys

    def forget(self, key_lmk: str) -> bool:
        """Drop the ready key for `key_lmk` (a terminal's key was replaced); True if held."""
        with self._lock:
            return self._keys.pop(key_lmk, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()
