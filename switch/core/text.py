"""Digits and names as people type them: one place that checks and normalises both.

Digits. `str.isdigit()` accepts `'²'`, `'٥'` and full-width digits, and `int()` converts some of
them, so a check built on them lets non-ASCII numbers through to the wire or to a balance.
Every number in LPS is ASCII `0-9` (`is_digits`). Persian (U+06F0-U+06F9) and Arabic-Indic
(U+0660-U+0669) digits typed by staff into a CLI or the console are converted explicitly, on
input (`to_ascii_digits`), and never reach the wire as they were typed.

Names and reasons. Persian text needs ZWNJ (U+200C, the half-space of "حسین‌زاده"), which
`str.isprintable()` refuses. Text that people type is accepted when it holds no control
character, no unpaired surrogate and no bidi override (a Trojan-source trick); it is stored in
one normal form: NFC, Arabic yeh and kaf (ي U+064A, ى U+0649, ك U+0643) as their Persian
letters (ی U+06CC, ک U+06A9), white space runs as one space, no space at either end
(`normalize_text`). Search compares `search_key`s, which also ignore case, ZWNJ/ZWJ, spaces,
tatweel and Arabic diacritics, so that "علی‌رضا", "علیرضا" and "علي رضا" find each other.
"""

from __future__ import annotations

import unicodedata

__all__ = [
    "TextError",
    "is_digits",
    "normalize_text",
    "parse_digits",
    "parse_int",
    "search_key",
    "to_ascii_digits",
]

ZWNJ = "\u200c"
ZWJ = "\u200d"

_DIGITS = str.maketrans(
    {**{chr(0x06F0 + i): str(i) for i in range(10)},
     **{chr(0x0660 + i): str(i) for i in range(10)}}
)
_PERSIAN_LETTERS = str.maketrans({"\u064a": "\u06cc", "\u0649": "\u06cc", "\u0643": "\u06a9"})
#: Format characters a name may hold: the joiners Persian needs. Every other format character
#: (bidi embeddings, overrides and isolates, invisible separators) is refused.
_ALLOWED_FORMAT = frozenset({ZWNJ, ZWJ})
_TATWEEL = "\u0640"


class TextError(ValueError):
    """Typed text that cannot be accepted, with the reason (never echoing a card number)."""


def is_digits(text: str, length: int | None = None) -> bool:
    """ASCII `0-9` only, at least one; exactly `length` of them when given."""
    if not (text.isascii() and text.isdigit()):
        return False
    return length is None or len(text) == length


def to_ascii_digits(text: str) -> str:
    """Persian and Arabic-Indic digits as ASCII; every other character unchanged."""
    return text.translate(_DIGITS)


def parse_digits(text: str, what: str, *, length: int | None = None,
                 lengths: range | None = None) -> str:
    """Typed digits (Persian, Arabic-Indic or ASCII; spaces and dashes between groups allowed)
    as an ASCII digit string, or `TextError` naming `what`."""
    bare = to_ascii_digits(text).strip().replace(" ", "").replace("-", "")
    if not is_digits(bare):
        raise TextError(f"{what} must be digits (0-9 or ۰-۹)")
    if length is not None and len(bare) != length:
        raise TextError(f"{what} must be {length} digits, got {len(bare)}")
    if lengths is not None and len(bare) not in lengths:
        raise TextError(f"{what} must be {lengths.start}-{lengths.stop - 1} digits, "
                        f"got {len(bare)}")
    return bare


#: The most digits a typed whole number may have (money and points stay far below).
MAX_DIGITS = 30


def parse_int(text: str, what: str, *, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """A typed whole number (optional leading `-`, Persian digits accepted), within bounds.
    More than `MAX_DIGITS` digits is refused before `int()`, which would take a while and
    refuses over 4,300 with a `ValueError` of its own."""
    raw = to_ascii_digits(text).strip()
    negative = raw.startswith("-")
    body = raw[1:] if negative else raw
    if not is_digits(body):
        raise TextError(f"{what} must be a whole number, got {text[:20]!r}")
    if len(body) > MAX_DIGITS:
        raise TextError(f"{what} must be a whole number of at most {MAX_DIGITS} digits")
    value = -int(body) if negative else int(body)
    if minimum is not None and value < minimum:
        raise TextError(f"{what} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise TextError(f"{what} must be at most {maximum}")
    return value


def normalize_text(text: str, what: str = "text", *, max_length: int | None = None,
                   allow_empty: bool = False) -> str:
    """Typed text in LPS's one stored form, or `TextError` saying what is wrong with it."""
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cs":
            raise TextError(f"{what} holds an unpaired surrogate")
        if category == "Cc" and not ch.isspace():
            raise TextError(f"{what} holds a control character (U+{ord(ch):04X})")
        if category == "Cc" and ch not in " \t":
            raise TextError(f"{what} must be one line")
        if category == "Cf" and ch not in _ALLOWED_FORMAT:
            raise TextError(f"{what} holds an invisible formatting character (U+{ord(ch):04X})")
    out = " ".join(unicodedata.normalize("NFC", text).translate(_PERSIAN_LETTERS).split())
    if not out and not allow_empty:
        raise TextError(f"{what} is empty")
    if max_length is not None and len(out) > max_length:
        raise TextError(f"{what} is longer than {max_length} characters")
    return out


def search_key(text: str) -> str:
    """What two spellings of one name have in common: compare these, not the names."""
    folded = unicodedata.normalize("NFKD", to_ascii_digits(text)).translate(_PERSIAN_LETTERS)
    kept = [ch for ch in folded
            if not unicodedata.combining(ch) and ch not in (ZWNJ, ZWJ, _TATWEEL)
            and not ch.isspace() and unicodedata.category(ch)[0] != "C"]
    return unicodedata.normalize("NFC", "".join(kept)).casefold()
