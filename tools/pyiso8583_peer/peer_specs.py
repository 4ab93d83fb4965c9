"""pyiso8583 specifications equivalent to the LPS-87 `ascii` and `bcd` profiles.

Written from docs/protocol.md §1-§2 alone, not from schemas/, so that the cross-check compares two
readings of the contract. Standard library only (the specs are plain dicts); the value mapping
between the LPS `Message` API and pyiso8583's documents lives here too:

- `b` fields: LPS `bytes` <-> pyiso8583 upper-case hex text (data_enc "b").
- `bcd` numerics: packed BCD through data_enc "b" with len_count "nibbles"; an odd count is
  left-padded with a 0 nibble (left_pad "0").
- `bcd` DE35 (`z`): one nibble per character with "=" as D, an odd count right-padded with F
  (right_pad "F"); pyiso8583 sees the hex text, so "=" <-> "D" is mapped here.
- the `bcd` TPDU is pyiso8583's header "h" (5 bytes, data_enc "b"); the MTI is 2 BCD bytes.
- DE48 is UTF-8 and its LLL counts bytes: data_enc "utf-8" (pyiso8583 counts encoded bytes).
"""

from __future__ import annotations

from typing import Any

# docs/protocol.md §2: number -> (type, length, prefix). Prefix 0 fixed, 2 LLVAR, 3 LLLVAR.
LPS87: dict[int, tuple[str, int, int]] = {
    2: ("n", 19, 2), 3: ("n", 6, 0), 4: ("n", 12, 0), 7: ("n", 10, 0), 11: ("n", 6, 0),
    12: ("n", 6, 0), 13: ("n", 4, 0), 14: ("n", 4, 0), 22: ("n", 3, 0), 25: ("n", 2, 0),
    35: ("z", 37, 2), 37: ("an", 12, 0), 38: ("an", 6, 0), 39: ("an", 2, 0),
    41: ("ans", 8, 0), 42: ("ans", 15, 0), 48: ("ans", 999, 3), 49: ("n", 3, 0),
    52: ("b", 8, 0), 54: ("an", 120, 3), 62: ("ans", 999, 3), 64: ("b", 8, 0),
    70: ("n", 3, 0), 74: ("n", 10, 0), 75: ("n", 10, 0), 76: ("n", 10, 0), 77: ("n", 10, 0),
    86: ("n", 16, 0), 87: ("n", 16, 0), 88: ("n", 16, 0), 89: ("n", 16, 0),
    90: ("n", 42, 0), 128: ("b", 8, 0),
}

PROFILES = ("ascii", "bcd")


def _field(profile: str, number: int) -> dict[str, Any]:
    ftype, length, prefix = LPS87[number]
    text_enc = "utf-8" if number == 48 else "ascii"
    spec: dict[str, Any] = {"desc": f"DE{number}", "max_len": length}
    if profile == "ascii":
        spec.update(data_enc="b" if ftype == "b" else text_enc, len_enc="ascii",
                    len_type=prefix)
        return spec
    # bcd: BCD length prefixes of 1 (LL) or 2 (LLL) bytes.
    spec.update(len_enc="bcd", len_type={0: 0, 2: 1, 3: 2}[prefix])
    if ftype == "n":
        spec.update(data_enc="b", len_count="nibbles", left_pad="0")
    elif ftype == "z":
        spec.update(data_enc="b", len_count="nibbles", right_pad="F")
    elif ftype == "b":
        spec.update(data_enc="b")
    else:
        spec.update(data_enc=text_enc)
    return spec


def spec_for(profile: str) -> dict[str, dict[str, Any]]:
    """The pyiso8583 spec of one LPS-87 profile (only the LPS-87 fields are defined)."""
    if profile not in PROFILES:
        raise ValueError(f"no pyiso8583 spec for profile {profile!r}")
    bcd = profile == "bcd"
    spec: dict[str, dict[str, Any]] = {
        "h": {"data_enc": "b", "len_enc": "ascii", "len_type": 0, "max_len": 5 if bcd else 0,
              "desc": "TPDU"},
        "t": {"data_enc": "b" if bcd else "ascii", "len_enc": "ascii", "len_type": 0,
              "max_len": 4, "desc": "MTI"},
        "p": {"data_enc": "b", "len_enc": "ascii", "len_type": 0, "max_len": 8,
              "desc": "primary bitmap"},
        "1": {"data_enc": "b", "len_enc": "ascii", "len_type": 0, "max_len": 8,
              "desc": "secondary bitmap"},
    }
    for number in LPS87:
        spec[str(number)] = _field(profile, number)
    return spec


def to_peer(profile: str, mti: str, fields: dict[int, Any], tpdu: bytes | None) -> dict[str, str]:
    """An LPS message (values as the `Message` API has them) as a pyiso8583 document."""
    doc: dict[str, str] = {"t": mti}
    if profile == "bcd":
        if tpdu is None:
            raise ValueError("the bcd profile needs a TPDU")
        doc["h"] = tpdu.hex().upper()
    for number, value in fields.items():
        ftype = LPS87[number][0]
        if isinstance(value, bytes):
            doc[str(number)] = value.hex().upper()
        elif ftype == "z" and profile == "bcd":
            doc[str(number)] = value.replace("=", "D")
        else:
            doc[str(number)] = value
    return doc


def from_peer(profile: str, doc: dict[str, str]) -> dict[str, Any]:
    """A pyiso8583 decoded document as LPS values: {"mti", "tpdu", "fields"}."""
    fields: dict[int, Any] = {}
    for key, value in doc.items():
        if not key.isdigit() or key == "1":
            continue
        number = int(key)
        ftype = LPS87[number][0]
        if ftype == "b":
            fields[number] = bytes.fromhex(value)
        elif ftype == "z" and profile == "bcd":
            fields[number] = value.replace("D", "=")
        else:
            fields[number] = value
    tpdu = bytes.fromhex(doc["h"]) if profile == "bcd" else None
    return {"mti": doc["t"], "tpdu": tpdu, "fields": fields}
