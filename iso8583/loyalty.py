"""LPS-87 helpers for the structured fields: DE48 TLVs, DE54 amounts, DE90 original data.

They know the layouts of docs/protocol.md §3 and §2 and nothing of loyalty rules. Malformed
input raises `DecodeError`/`EncodeError` naming the field, like the codec itself; a DE48 error
never quotes a TLV value (MK/PK carry keys), and digits are ASCII `0-9` only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from .errors import DecodeError, EncodeError
from .fields import is_ascii_digits


def parse_tlv(value: str) -> dict[str, str]:
    """DE48 as {tag: value}: tag (2 chars), length (3 digits counting UTF-8 bytes), value."""
    data = value.encode("utf-8")
    out: dict[str, str] = {}
    pos, end = 0, len(data)
    while pos < end:
        head = data[pos:pos + 5]
        if len(head) < 5:
            raise DecodeError(f"TLV header cut short at byte {pos}", field=48, offset=pos)
        tag, size_text = head[:2], head[2:5]
        if not tag.isalnum() or not tag.isascii():
            raise DecodeError(f"TLV tag {tag!r} at byte {pos} is not 2 letters or digits",
                              field=48, offset=pos)
        if not is_ascii_digits(size_text):
            raise DecodeError(f"TLV length {size_text!r} of tag {tag.decode()} is not 3 digits",
                              field=48, offset=pos)
        size = int(size_text)
        body = data[pos + 5:pos + 5 + size]
        if len(body) != size:
            raise DecodeError(f"TLV {tag.decode()} announces {size} bytes, {len(body)} remain",
                              field=48, offset=pos)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"TLV {tag.decode()} value is not UTF-8", field=48,
                              offset=pos) from exc
        key = tag.decode("ascii")
        if key in out:
            raise DecodeError(f"TLV tag {key} appears twice", field=48, offset=pos)
        out[key] = text
        pos += 5 + size
    return out


def build_tlv(items: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """DE48 text from tags and values, in the order given."""
    # a dict without the ABC's isinstance (every reply's DE48 is one)
    pairs = items.items() if type(items) is dict or isinstance(items, Mapping) else items
    parts: list[str] = []
    for tag, text in pairs:
        if not (isinstance(tag, str) and len(tag) == 2 and tag.isascii() and tag.isalnum()):
            raise EncodeError(f"TLV tag {tag!r} must be 2 ASCII letters or digits", field=48)
        if not isinstance(text, str):
            raise EncodeError(f"TLV {tag} value must be str", field=48)
        # ASCII text is as many UTF-8 bytes as characters: no encoding to count them
        size = len(text) if text.isascii() else len(text.encode("utf-8"))
        if size > 999:
            raise EncodeError(f"TLV {tag} value is {size} bytes, at most 999", field=48)
        parts.append(f"{tag}{size:03d}{text}")
    return "".join(parts)


class AmountEntry(NamedTuple):
    """One 20-character DE54 entry; `amount` is signed (negative travels as `D`)."""

    account_type: str
    amount_type: str
    currency: str
    amount: int


def build_de54(entries: Iterable[AmountEntry]) -> str:
    """DE54 text: account type (2) + amount type (2) + currency (3) + C/D + amount (12)."""
    parts: list[str] = []
    for entry in entries:
        account_type, amount_type, currency, amount = entry
        if type(account_type) is str and type(amount_type) is str and type(currency) is str \
                and len(account_type) == 2 and len(amount_type) == 2 and len(currency) == 3 \
                and type(amount) is int and -10**12 < amount < 10**12:
            head = account_type + amount_type + currency
            if head.isascii() and head.isdigit():  # the checks below, at once
                parts.append(f"{head}{'D' if amount < 0 else 'C'}{abs(amount):012d}")
                continue
        for name, text, size in (("account type", entry.account_type, 2),
                                 ("amount type", entry.amount_type, 2),
                                 ("currency", entry.currency, 3)):
            if len(text) != size or not is_ascii_digits(text):
                raise EncodeError(f"DE54 {name} {text!r} must be {size} digits", field=54)
        if not isinstance(entry.amount, int) or abs(entry.amount) >= 10**12:
            raise EncodeError(f"DE54 amount {entry.amount!r} does not fit 12 digits", field=54)
        sign = "D" if entry.amount < 0 else "C"
        parts.append(f"{entry.account_type}{entry.amount_type}{entry.currency}{sign}"
                     f"{abs(entry.amount):012d}")
    return "".join(parts)


def parse_de54(value: str) -> list[AmountEntry]:
    """The entries of a DE54 text."""
    if len(value) % 20:
        raise DecodeError(f"DE54 is {len(value)} characters, not a multiple of 20", field=54)
    entries = []
    for pos in range(0, len(value), 20):
        chunk = value[pos:pos + 20]
        head, sign, amount = chunk[:7], chunk[7], chunk[8:]
        if not (is_ascii_digits(head) and is_ascii_digits(amount)):
            raise DecodeError(f"DE54 entry {chunk!r} is not digits where digits belong",
                              field=54, offset=pos)
        if sign not in "CD":
            raise DecodeError(f"DE54 entry {chunk!r} has sign {sign!r}, not C or D",
                              field=54, offset=pos)
        signed = int(amount) if sign == "C" else -int(amount)
        entries.append(AmountEntry(head[:2], head[2:4], head[4:7], signed))
    return entries


class OriginalData(NamedTuple):
    """DE90: the original's MTI, STAN and transmission date-time (DE7)."""

    mti: str
    stan: str
    transmission: str


def build_de90(original: OriginalData) -> str:
    """42 digits: MTI (4) + STAN (6) + DE7 (10) + 22 zeros."""
    mti, stan, when = original
    for name, text, size in (("MTI", mti, 4), ("STAN", stan, 6), ("DE7", when, 10)):
        if len(text) != size or not is_ascii_digits(text):
            raise EncodeError(f"DE90 {name} {text!r} must be {size} digits", field=90)
    return f"{mti}{stan}{when}" + "0" * 22


def parse_de90(value: str) -> OriginalData:
    """The original's identifiers from DE90 (the last 22 digits are not used by LPS-87)."""
    if len(value) != 42 or not is_ascii_digits(value):
        raise DecodeError(f"DE90 {value!r} must be 42 digits", field=90)
    return OriginalData(value[:4], value[4:10], value[10:20])
