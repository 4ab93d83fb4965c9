"""Card numbers: Luhn check digit, masking (docs/protocol.md §6)."""

from __future__ import annotations

import re

from switch.core.text import is_digits

#: A run of 13-19 digits, as a PAN (alone, or as the start of track 2) is written.
_PAN_LIKE = re.compile(r"(?<![0-9])[0-9]{13,19}(?![0-9])")


def luhn_ok(pan: str) -> bool:
    """True when `pan` is 13-19 digits with a valid Luhn check digit."""
    if not (13 <= len(pan) <= 19 and is_digits(pan)):
        return False
    total = 0
    for i, ch in enumerate(reversed(pan)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_complete(prefix: str) -> str:
    """`prefix` followed by the check digit that makes it Luhn-valid."""
    for d in "0123456789":
        if luhn_ok(prefix + d):
            return prefix + d
    raise ValueError(f"cannot complete {prefix!r}")


def mask_pan(pan: str) -> str:
    """First 6 and last 4 digits, the rest as `*` (docs/protocol.md §6)."""
    if len(pan) < 11:
        return "*" * len(pan)
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def redact(text: str) -> str:
    """`text` with every run of 13-19 digits masked like a PAN: for exception messages and
    reasons that may quote a field, before they reach a log line or a metric."""
    return _PAN_LIKE.sub(lambda m: mask_pan(m.group()), text)
