"""What docs/protocol.md, docs/programs.md and examples/lps.toml say, as data and small
functions, for the hostile simulation's reference model (tests/switch/test_hostile_model.py):
the configuration, the fields' formats (§2), TLVs (§3), MTIs (§2, §4), business days and
tiers. Written from the docs, not from the code; the tests at the end hold them to the docs'
own examples.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
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
       "210060": "topup", "006000": "sv_purchase", "930000": "stamp", "940000": "discount",
       "950000": "membership"}

#: examples/lps.toml, `[coalition.tehran-mall.discounts]` (docs/programs.md "Discounts at the
#: till"): percent off per tier at the stores with `tier_perk`, "each 100 points = 10 % off",
#: at most half of a purchase.
TIER_PERKS = {"SILVER": 5, "GOLD": 10}
POINTS_STEP, PERCENT_STEP, MAX_POINTS_PERCENT = 100, 10, 50


@dataclass(frozen=True)
class TillOffers:
    """`[store.X.discounts]` of examples/lps.toml (0: the store has none of it)."""

    tier_perk: bool = False
    min_spend_amount: int = 0
    min_spend_percent: int = 0
    buy: int = 0
    get: int = 0
    stamp_value: int = 0


#: Store 3 has no `[discounts]`: it gives nothing at its till but a conversion of points.
TILL = {"STORE0000000001": TillOffers(tier_perk=True, buy=2, get=1, stamp_value=60_000),
        "STORE0000000002": TillOffers(tier_perk=True, min_spend_amount=5_000_000,
                                      min_spend_percent=20),
        "STORE0000000003": TillOffers()}
#: `[coalition.tehran-mall.memberships.<level>]`: (tier, price, months).
MEMBERSHIPS = {"silver": ("SILVER", 4_000_000, 12), "gold": ("GOLD", 10_000_000, 12),
               "gold-quarter": ("GOLD", 3_000_000, 3)}
#: DE48 tags of a `940000` that are 1-12 ASCII digits when present (docs/protocol.md §3, §4).
TILL_DIGITS = ("DP", "SU", "BQ", "BP")
_LEVEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")
#: Persian and Arabic-Indic digits, read as ASCII in a level (docs/programs.md "Paid
#: memberships"; docs/cli.md "Typed values").
_TYPED_DIGITS = str.maketrans("\u06f0\u06f1\u06f2\u06f3\u06f4\u06f5\u06f6\u06f7\u06f8\u06f9"
                              "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669",
                              "01234567890123456789")


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


def level(value: str) -> str | None:
    """DE48 `ML` as a level (docs/programs.md "Paid memberships"; docs/protocol.md §3): spaces
    around it ignored, any case, Persian and Arabic-Indic digits read as ASCII; None when it
    cannot be a level (1-20 lower-case ASCII letters, digits, `-` or `_`)."""
    name = value.translate(_TYPED_DIGITS).strip(" ")
    name = "".join(c.lower() if "A" <= c <= "Z" else c for c in name)
    return name if 1 <= len(name) <= 20 and set(name) <= _LEVEL_CHARS else None


def add_months(day: dt.date, months: int) -> dt.date:
    """The same date `months` calendar months on, the month's last day when it has none."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def last_day(start: dt.date, months: int) -> dt.date:
    """A membership term's last day: from `start` to the day before the same date `months` on
    (docs/programs.md "Paid memberships", "Term")."""
    return add_months(start, months) - dt.timedelta(days=1)


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


def test_levels_and_terms_as_docs_programs_md_writes_them() -> None:
    """docs/programs.md "Paid memberships": any case, spaces around it and Persian or
    Arabic-Indic digits read as the level; 23 November + 3 months through 22 February, 31
    January + 1 month through 27 February."""
    assert level(" Gold-Quarter ") == "gold-quarter" and level("GOLD") == "gold"
    assert level("gold\u06f1") == "gold1" and level("gold\u0661") == "gold1"
    assert level("") is None and level("gold;drop") is None and level("gold quarter") is None
    assert level("x" * 21) is None and level("\uff47old") is None
    assert last_day(dt.date(2026, 11, 23), 3) == dt.date(2027, 2, 22)
    assert last_day(dt.date(2027, 1, 31), 1) == dt.date(2027, 2, 27)
    assert last_day(dt.date(2026, 12, 1), 3) == dt.date(2027, 2, 28)
