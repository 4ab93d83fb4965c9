"""What docs/protocol.md, docs/programs.md and examples/lps.toml say, as data and small
functions, for the hostile simulation's reference model (tests/switch/test_hostile_model.py):
the configuration, the fields' formats (§2), TLVs (§3), MTIs (§2, §4), business days and
tiers. Written from the docs, not from the code; the tests at the end hold them to the docs'
own examples.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("Asia/Tehran")
CUTOVER = dt.time(23, 30)
BIN = "628000"
POINT_VALUE = 1000
TERMINALS = {"T0000001": "STORE0000000001", "T0000002": "STORE0000000002",
             "T0000003": "STORE0000000003"}
#: examples/lps.toml: (points_per, points, min_amount) per store.
EARN = {"STORE0000000001": (10_000, 1, 0), "STORE0000000002": (10_000, 2, 100_000),
        "STORE0000000003": (20_000, 1, 0)}
STAMPS = {"STORE0000000001": 10}
TOPUP_BONUS = {"STORE0000000003": 15}
TIERS = (("BLUE", 0, 1000), ("SILVER", 50_000_000, 1250), ("GOLD", 200_000_000, 1500))
#: Store 2's "Yalda night", local dates inclusive, x3 (docs/programs.md campaign windows).
CAMPAIGNS = {"STORE0000000002": ((dt.date(2026, 12, 20), dt.date(2026, 12, 22), 3000),)}

#: docs/protocol.md §2: the LPS-87 fields and their formats: (kind, fixed length or max).
FORMATS: dict[int, tuple[str, int, bool]] = {
    2: ("n", 19, False), 3: ("n", 6, True), 4: ("n", 12, True), 7: ("n", 10, True),
    11: ("n", 6, True), 12: ("n", 6, True), 13: ("n", 4, True), 14: ("n", 4, True),
    22: ("n", 3, True), 25: ("n", 2, True), 35: ("z", 37, False), 37: ("an", 12, True),
    38: ("an", 6, True), 39: ("an", 2, True), 41: ("ans", 8, True), 42: ("ans", 15, True),
    48: ("utf8", 999, False), 49: ("n", 3, True), 52: ("b", 8, True), 54: ("an", 120, False),
    62: ("ans", 999, False), 64: ("b", 8, True), 70: ("n", 3, True), 74: ("n", 10, True),
    75: ("n", 10, True), 76: ("n", 10, True), 77: ("n", 10, True), 86: ("n", 16, True),
    87: ("n", 16, True), 88: ("n", 16, True), 89: ("n", 16, True), 90: ("n", 42, True),
    128: ("b", 8, True),
}
TOTALS = (74, 75, 76, 77, 86, 87, 88, 89)
SUPPORTED = {"0200", "0220", "0221", "0400", "0401", "0420", "0421", "0500", "0800"}
CANONICAL = {"0401": "0400", "0421": "0420", "0221": "0220"}
AMOUNT_OPTIONAL = {"310000", "930000"}
PCS = {"000000": "earn", "900000": "redeem", "310000": "inquiry", "200000": "return",
       "210060": "topup", "006000": "sv_purchase", "930000": "stamp"}
#: Processing codes of docs/protocol.md §4 the reference does not model: discounts at the till
#: and paid memberships (tests/rewards and tests/money test them). The traffic never sends them;
#: a damaged frame that decodes to one (a flipped bit makes `900000` a `940000`) is damaged
#: afresh.
NOT_MODELLED = {"940000", "950000"}


def digits(text: object, length: int | None = None) -> bool:
    """ASCII 0-9 only (docs/protocol.md §2), `length` of them when given."""
    return (isinstance(text, str) and len(text) > 0 and all("0" <= c <= "9" for c in text)
            and (length is None or len(text) == length))


def luhn(pan: str) -> bool:
    if not (13 <= len(pan) <= 19 and digits(pan)):
        return False
    total = 0
    for i, c in enumerate(reversed(pan)):
        d = int(c) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def well_formed(number: int, value: object) -> bool:
    """A value as docs/protocol.md §2 writes the field."""
    kind, size, fixed = FORMATS[number]
    if kind == "b":
        return isinstance(value, bytes) and len(value) == size
    if not isinstance(value, str):
        return False
    if kind == "n":  # a variable one may be empty (an LL prefix of 00)
        return digits(value, size) if fixed else (value == "" or digits(value)) \
            and len(value) <= size
    if kind == "z":
        return len(value) <= size and all(c == "=" or "0" <= c <= "9" for c in value)
    if kind == "utf8":  # UTF-8 without control characters (README, "The wire contract")
        try:
            size_ok = len(value.encode("utf-8")) <= size
        except UnicodeEncodeError:
            return False
        return size_ok and not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value)
    # Fixed text is space-filled on the right on the wire (README): shorter is well-formed.
    return value.isascii() and value.isprintable() and len(value) <= size


def tlv(value: str) -> dict[str, str] | None:
    """DE48 as tags (docs/protocol.md §3), None when it is not a TLV run."""
    data, out, pos = value.encode("utf-8"), {}, 0
    while pos < len(data):
        head = data[pos:pos + 5]
        if len(head) < 5 or not (head[:2].isascii() and head[:2].isalnum()) \
                or not digits(head[2:5].decode("ascii", "replace"), 3):
            return None
        size = int(head[2:5])
        body = data[pos + 5:pos + 5 + size]
        tag = head[:2].decode()
        if len(body) != size or tag in out:
            return None
        try:
            out[tag] = body.decode("utf-8")
        except UnicodeDecodeError:
            return None
        pos += 5 + size
    return out


def business_day(now: dt.datetime) -> dt.date:
    local = now.astimezone(ZONE)
    return local.date() + dt.timedelta(days=1 if local.time() >= CUTOVER else 0)


def response_mti(mti: str) -> str:
    return mti[:2] + ("1" if mti[2] == "0" else "3") + "0"


def answerable(mti: object) -> bool:
    return digits(mti, 4) and mti[0] == "0" and mti[2] in "02" and mti[3] in "01"  # type: ignore[index]


def tier_rank(name: str) -> int:
    return [t[0] for t in TIERS].index(name) if name else -1


def qualified(spend: int) -> str:
    return [name for name, least, _ in TIERS if spend >= least][-1]


# -- held to the docs ---------------------------------------------------------------------------


def test_formats_as_docs_protocol_section_2_writes_them() -> None:
    assert well_formed(4, "000000010000") and not well_formed(4, "10000")
    assert not well_formed(4, "00000001000\u06f0") and not well_formed(22, "\u0660\u0665\u0661")
    assert well_formed(2, "6280001234567895") and not well_formed(2, "6" * 20)
    assert well_formed(35, "6280001234567895=2912") and not well_formed(35, "62800D2912")
    assert well_formed(48, "CS015\u0639\u0644\u06cc\u200c\u0631\u0636\u0627")  # ZWNJ is text
    assert not well_formed(48, "IN003a\x07b") and not well_formed(42, "\u0641\u0631\u0648\u0634")
    assert well_formed(41, "T1") and not well_formed(41, "T00000011")


def test_tlvs_mtis_days_and_tiers() -> None:
    assert tlv("RP0011IN003abc") == {"RP": "1", "IN": "abc"}
    assert tlv("RP00\u06f212") is None and tlv("IN003abcIN003abc") is None
    assert [answerable(m) for m in ("0200", "0221", "0210", "0290", "1200")] == \
        [True, True, False, False, False]
    assert response_mti("0421") == "0430"
    tehran_2329 = dt.datetime(2026, 11, 23, 19, 59, tzinfo=dt.UTC)
    assert business_day(tehran_2329) == dt.date(2026, 11, 23)
    assert business_day(tehran_2329 + dt.timedelta(minutes=1)) == dt.date(2026, 11, 24)
    assert (qualified(49_999_999), qualified(50_000_000), qualified(10**12)) == \
        ("BLUE", "SILVER", "GOLD")
    assert luhn("6280001234567895") and not luhn("6280001234567896")
