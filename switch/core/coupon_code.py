"""Coupon codes: an alphabet without look-alikes, a check character, one normal form, a digest.

A code is 15 random symbols of Crockford's base 32 (the digits and the letters without I, L, O
and U, which are read as 1, 1, 0 or are left out) and one check symbol, 16 in all, written in
groups of four: `7KQ4-M2XD-9PTR-W3HF` (docs/programs.md "Coupons"). 75 random bits: a guess at
the till hits one of a million live codes once in 3.8 * 10^16 tries.

The check symbol is the Damm algorithm's (as python-stdnum's `damm`, which only takes decimal
digits) over a quasigroup of order 32: `x * y = 2x + y` in GF(2^5), totally anti-symmetric,
so it catches every single wrong symbol and every swap of two adjacent ones (ISO 7064's hybrid
MOD 33,32 misses about one swap in 300), and a typo is refused before anything is looked up.

What a cashier types is read as one normal form (`normalize`): lower case as upper, spaces,
dashes and ZWNJ dropped, Persian and Arabic-Indic digits as ASCII, O as 0 and I or L as 1.
Codes are stored and compared as `digest(code)` (SHA-256), never in clear.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from switch.core.text import to_ascii_digits

__all__ = ["ALPHABET", "LENGTH", "RANDOM_SYMBOLS", "check_symbol", "digest", "display", "new_code",
           "normalize"]

#: Crockford's base 32: no I, L, O or U.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_SYMBOLS = 15
LENGTH = RANDOM_SYMBOLS + 1
_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}
#: Read as the symbol they look like (Crockford's decoding).
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
#: Dropped wherever they are typed: group separators and the half-space a Persian keyboard adds.
_SEPARATORS = frozenset(" -\t\u200c\u00a0")
#: Domain separation: a code's digest is no other value's SHA-256.
_DIGEST_PREFIX = b"lps-coupon\x00"


#: x^5 + x^2 + 1, irreducible over GF(2): the field GF(32) of the quasigroup.
_FIELD = 0b100101


def _double(x: int) -> int:
    """2x in GF(32)."""
    x <<= 1
    return x ^ _FIELD if x & 0b100000 else x


#: The Damm operation table: `_TABLE[x][y] = 2x + y` (+ is XOR in GF(2^5)).
_TABLE = tuple(tuple(_double(x) ^ y for y in range(32)) for x in range(32))


def _checksum(symbols: str) -> int:
    """The Damm interim value after `symbols`: 0 for a code whose check symbol is right."""
    interim = 0
    for ch in symbols:
        interim = _TABLE[interim][_INDEX[ch]]
    return interim


def check_symbol(symbols: str) -> str:
    """The check symbol that makes `symbols` + it a valid code: the `c` with 2x + c = 0."""
    return ALPHABET[_double(_checksum(symbols))]


def normalize(typed: str) -> tuple[str | None, str]:
    """The code in its normal form, or None and why it cannot be one (never echoing it)."""
    if len(typed) > 4 * LENGTH:
        return None, "the coupon code is far too long"
    bare = "".join(ch for ch in to_ascii_digits(typed) if ch not in _SEPARATORS)
    code = bare.upper().translate(_ALIASES)
    if len(code) != LENGTH:
        return None, f"a coupon code has {LENGTH} symbols, this one {len(code)}"
    if any(ch not in _INDEX for ch in code):
        return None, "the coupon code holds a character outside its alphabet"
    if _checksum(code) != 0:
        return None, "the coupon code's check symbol is wrong (a typo)"
    return code, ""


def digest(code: str) -> str:
    """What is stored and looked up instead of the code (hex SHA-256 of its normal form)."""
    return hashlib.sha256(_DIGEST_PREFIX + code.encode("ascii")).hexdigest()


def display(code: str) -> str:
    """The code in groups of four, as printed: `7KQ4-M2XD-9PTR-W3HF`."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def new_code(randbelow: Callable[[int], int]) -> str:
    """A new code from a random source (`secrets.randbelow`: the CLI's CSPRNG)."""
    symbols = "".join(ALPHABET[randbelow(len(ALPHABET))] for _ in range(RANDOM_SYMBOLS))
    return symbols + check_symbol(symbols)
