"""What an error may say about a field's content: card data and key material never in clear.

Errors are logged (the switch writes `error=...` for every frame it cannot decode) and may be
shown to people, so they must not carry a PAN, track data, a PIN block, a MAC or a key
(docs/protocol.md §6: card numbers masked as first 6 + last 4 in every log line). Two layers:

- The fields in `SECRET_FIELDS` never quote their content in an error, only lengths and the
  position of the fault; a partial message keeps them masked (`mask_card`) or not at all.
- Every error message is passed through `redact`, which masks any run of 12 or more digits
  (spaces or dashes between groups allowed) as first 6 + last 4, whatever field it came from.
"""

from __future__ import annotations

import re
from typing import Any

#: Card data: DE2 PAN, DE34 extended PAN, DE35/DE36/DE45 track 2/3/1, DE55 chip data (it holds
#: a track 2 equivalent). Key and PIN material: DE52 PIN block, DE53 security control
#: information, DE64/DE128 MACs, DE96 message security code. DE48: LPS carries the session
#: keys there (`MK`/`PK` under the terminal master key, docs/protocol.md §3).
SECRET_FIELDS = frozenset({2, 34, 35, 36, 45, 48, 52, 53, 55, 64, 96, 128})
#: Of those, the ones that carry a card number a person may see masked (first 6 + last 4).
CARD_FIELDS = frozenset({2, 34, 35, 36, 45})

# 12 or more decimal digits (any script), single spaces or dashes allowed between them.
_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d){11,}")
_DIGITS = re.compile(r"\d+")


def mask_card(value: str) -> str:
    """First 6 and last 4 digits of a PAN (or of track 2's PAN) with the rest as '*'."""
    pan = value.split("=", 1)[0]
    if len(pan) <= 10:
        return "*" * len(pan)
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def _mask_run(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def redact(text: str) -> str:
    """`text` with every card-number-like run of digits masked as first 6 + last 4."""
    return _DIGIT_RUN.sub(_mask_run, text)


def masked_card_field(value: Any) -> str:
    """How a partial message keeps a card field: its first run of digits, masked.

    The PAN comes first in every card field (DE35 `PAN=YYMM...`, DE45 `BPAN^NAME^...`), so a
    track keeps only its masked PAN and never its discretionary data.
    """
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
    found = _DIGITS.search(text)
    return mask_card(found.group()) if found else ""


def shown_value(number: int, value: bytes | str) -> str:
    """How an error quotes a field's value: its repr, or only its size for a secret field."""
    if number in SECRET_FIELDS:
        unit = "bytes" if isinstance(value, bytes) else "characters"
        return f"({len(value)} {unit} withheld)"
    return repr(value)
