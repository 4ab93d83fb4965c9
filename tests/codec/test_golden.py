"""Golden vectors written by hand from PROTOCOL.md, one per MTI and processing code, both profiles.

Each expected frame is spelled out piece by piece: bitmaps as hex computed by hand, every field
as its literal wire bytes (ASCII digits and length prefixes in `ascii`; packed BCD, BCD length
prefixes and the TPDU in `bcd`). The codec must produce exactly these bytes and read them back.
"""

from __future__ import annotations

import pytest

from iso8583 import Message, load_profile

H = bytes.fromhex
TPDU = H("6000010002")  # 0x60, destination NII 0001, source NII 0002

PAN = "6280001234567893"
WHEN = "1123093015"
TID = "T0000001"
MID = "STORE0000000001"
MS = "امتیاز"  # 6 Persian letters, 12 bytes of UTF-8

# Literal pieces shared by many vectors: (ascii bytes, bcd bytes)
P_PAN = (b"16" + PAN.encode(), H("16") + H(PAN))
P_WHEN = (WHEN.encode(), H(WHEN))
P_TID = (TID.encode(), TID.encode())
P_MID = (MID.encode(), MID.encode())


def stan(s: str) -> tuple[bytes, bytes]:
    return s.encode(), H(s)


def n_fixed(s: str) -> tuple[bytes, bytes]:
    return s.encode(), H(("0" + s) if len(s) % 2 else s)


def lll_text(s: str) -> tuple[bytes, bytes]:
    raw = s.encode("utf-8")
    return f"{len(raw):03d}".encode() + raw, H(f"{len(raw):04d}") + raw


def text(s: str) -> tuple[bytes, bytes]:
    return s.encode(), s.encode()


VECTORS: list[tuple[str, Message, str, list[tuple[bytes, bytes]]]] = []


def vector(name: str, mti: str, fields: dict[int, str | bytes], bitmap: str,
           pieces: list[tuple[bytes, bytes]]) -> None:
    VECTORS.append((name, Message(mti, fields), bitmap, pieces))


# 0800 sign-on: DE7, DE11, DE41, DE70 -> secondary bitmap (DE70 > 64)
vector("0800 sign-on", "0800", {7: WHEN, 11: "000001", 41: TID, 70: "001"},
       "8220000000800000" "0400000000000000",
       [P_WHEN, stan("000001"), P_TID, n_fixed("001")])
vector("0810 sign-on approved", "0810", {7: WHEN, 11: "000001", 39: "00", 41: TID, 70: "001"},
       "8220000002800000" "0400000000000000",
       [P_WHEN, stan("000001"), text("00"), P_TID, n_fixed("001")])
vector("0800 echo", "0800", {7: WHEN, 11: "000009", 41: TID, 70: "301"},
       "8220000000800000" "0400000000000000",
       [P_WHEN, stan("000009"), P_TID, n_fixed("301")])
vector("0800 sign-off", "0800", {7: WHEN, 11: "000010", 41: TID, 70: "002"},
       "8220000000800000" "0400000000000000",
       [P_WHEN, stan("000010"), P_TID, n_fixed("002")])
KEYS = "MK032" + "0123456789ABCDEFFEDCBA9876543210" + "MV006" + "08D7B4" \
       + "PK032" + "FEDCBA98765432100123456789ABCDEF" + "PV006" + "AB12CD"
vector("0810 key exchange", "0810",
       {7: WHEN, 11: "000002", 39: "00", 41: TID, 48: KEYS, 70: "101"},
       "8220000002810000" "0400000000000000",
       [P_WHEN, stan("000002"), text("00"), P_TID, lll_text(KEYS), n_fixed("101")])

# 0200 earn: 2 3 4 7 11 12 13 22 25 41 42 49 62
vector("0200 earn 000000", "0200",
       {2: PAN, 3: "000000", 4: "000000150000", 7: WHEN, 11: "000002", 12: "093015",
        13: "1123", 22: "051", 25: "00", 41: TID, 42: MID, 49: "364", 62: "000001"},
       "7238048000C08004",
       [P_PAN, n_fixed("000000"), n_fixed("000000150000"), P_WHEN, stan("000002"),
        n_fixed("093015"), n_fixed("1123"), n_fixed("051"), n_fixed("00"), P_TID, P_MID,
        n_fixed("364"), lll_text("000001")])
DE48_RESP = "EP00215TR004BLUE" + "MS012" + MS
DE54 = "0002999C000000000015"
vector("0210 earn approved", "0210",
       {2: PAN, 3: "000000", 4: "000000150000", 7: WHEN, 11: "000002", 37: "000000000001",
        38: "A00001", 39: "00", 41: TID, 42: MID, 48: DE48_RESP, 54: DE54, 62: "000001"},
       "722000000EC10404",
       [P_PAN, n_fixed("000000"), n_fixed("000000150000"), P_WHEN, stan("000002"),
        text("000000000001"), text("A00001"), text("00"), P_TID, P_MID, lll_text(DE48_RESP),
        lll_text(DE54), lll_text("000001")])
vector("0200 redeem 900000 with PIN and RP", "0200",
       {2: PAN, 3: "900000", 4: "000000250000", 7: WHEN, 11: "000003", 41: TID, 42: MID,
        48: "RP003100", 52: H("0123456789ABCDEF")},
       "7220000000C11000",
       [P_PAN, n_fixed("900000"), n_fixed("000000250000"), P_WHEN, stan("000003"), P_TID,
        P_MID, lll_text("RP003100"), (H("0123456789ABCDEF"), H("0123456789ABCDEF"))])
T2 = "6280001234567893=281210"  # 23 characters: odd, so BCD ends with an F nibble
vector("0200 balance inquiry 310000 by track 2", "0200",
       {3: "310000", 7: WHEN, 11: "000004", 22: "021", 35: T2, 41: TID, 42: MID},
       "22200400 20C00000".replace(" ", ""),
       [n_fixed("310000"), P_WHEN, stan("000004"), n_fixed("021"),
        (b"23" + T2.encode(), H("23") + H("6280001234567893D281210F")), P_TID, P_MID])
vector("0200 return 200000", "0200",
       {2: PAN, 3: "200000", 4: "000000050000", 7: WHEN, 11: "000005", 41: TID, 42: MID,
        48: "OR012000000000001"},
       "7220000000C10000",
       [P_PAN, n_fixed("200000"), n_fixed("000000050000"), P_WHEN, stan("000005"), P_TID,
        P_MID, lll_text("OR012000000000001")])
vector("0200 top-up 210060", "0200",
       {2: PAN, 3: "210060", 4: "000001000000", 7: WHEN, 11: "000006", 41: TID, 42: MID,
        49: "364"},
       "7220000000C08000",
       [P_PAN, n_fixed("210060"), n_fixed("000001000000"), P_WHEN, stan("000006"), P_TID,
        P_MID, n_fixed("364")])
vector("0200 purse purchase 006000", "0200",
       {2: PAN, 3: "006000", 4: "000000300000", 7: WHEN, 11: "000007", 41: TID, 42: MID},
       "7220000000C00000",
       [P_PAN, n_fixed("006000"), n_fixed("000000300000"), P_WHEN, stan("000007"), P_TID,
        P_MID])
vector("0200 stamp reward 930000", "0200",
       {2: PAN, 3: "930000", 7: WHEN, 11: "000008", 41: TID, 42: MID},
       "6220000000C00000",
       [P_PAN, n_fixed("930000"), P_WHEN, stan("000008"), P_TID, P_MID])
vector("0200 earn with MAC", "0200",
       {2: PAN, 3: "000000", 4: "000000150000", 7: WHEN, 11: "000011", 41: TID, 42: MID,
        64: H("1122334455667788")},
       "7220000000C00001",
       [P_PAN, n_fixed("000000"), n_fixed("000000150000"), P_WHEN, stan("000011"), P_TID,
        P_MID, (H("1122334455667788"), H("1122334455667788"))])
vector("0220 offline earn advice", "0220",
       {2: PAN, 3: "000000", 4: "000000150000", 7: WHEN, 11: "000012", 41: TID, 42: MID},
       "7220000000C00000",
       [P_PAN, n_fixed("000000"), n_fixed("000000150000"), P_WHEN, stan("000012"), P_TID,
        P_MID])

# Reversals carry DE90 (> 64): secondary bitmap with bit 90.
DE90 = "0200" "000002" + WHEN + "0" * 22
for mti in ("0400", "0401", "0420", "0421"):
    vector(f"{mti} reversal", mti,
           {2: PAN, 3: "000000", 4: "000000150000", 7: WHEN, 11: "000013", 41: TID, 42: MID,
            90: DE90},
           "F220000000C00000" "0000004000000000",
           [P_PAN, n_fixed("000000"), n_fixed("000000150000"), P_WHEN, stan("000013"), P_TID,
            P_MID, n_fixed(DE90)])
vector("0410 reversal approved", "0410",
       {2: PAN, 3: "000000", 4: "000000150000", 7: WHEN, 11: "000013", 37: "000000000002",
        39: "00", 41: TID, 42: MID, 90: DE90},
       "F22000000AC00000" "0000004000000000",
       [P_PAN, n_fixed("000000"), n_fixed("000000150000"), P_WHEN, stan("000013"),
        text("000000000002"), text("00"), P_TID, P_MID, n_fixed(DE90)])

# 0500 batch close with totals and DE128 (secondary bitmap).
vector("0500 batch close with DE128", "0500",
       {3: "920000", 7: WHEN, 11: "000014", 41: TID, 42: MID, 62: "000001",
        74: "0000000003", 75: "0000000001", 76: "0000000002", 77: "0000000000",
        86: "0000000000450000", 87: "0000000000150000", 88: "0000000000550000",
        89: "0000000000000000", 128: H("8877665544332211")},
       "A2200000" "00C00004" "0078078000000001",
       [n_fixed("920000"), P_WHEN, stan("000014"), P_TID, P_MID, lll_text("000001"),
        n_fixed("0000000003"), n_fixed("0000000001"), n_fixed("0000000002"),
        n_fixed("0000000000"), n_fixed("0000000000450000"), n_fixed("0000000000150000"),
        n_fixed("0000000000550000"), n_fixed("0000000000000000"),
        (H("8877665544332211"), H("8877665544332211"))])
vector("0510 batch out of balance", "0510",
       {3: "920000", 7: WHEN, 11: "000014", 39: "95", 41: TID, 42: MID, 62: "000001"},
       "22200000 02C00004".replace(" ", ""),
       [n_fixed("920000"), P_WHEN, stan("000014"), text("95"), P_TID, P_MID,
        lll_text("000001")])


def expected(profile: str, mti: str, bitmap: str, pieces: list[tuple[bytes, bytes]]) -> bytes:
    if profile == "ascii":
        return mti.encode() + H(bitmap) + b"".join(p[0] for p in pieces)
    return TPDU + H(mti) + H(bitmap) + b"".join(p[1] for p in pieces)


@pytest.mark.parametrize("profile_name", ["ascii", "bcd"])
@pytest.mark.parametrize(("name", "message", "bitmap", "pieces"), VECTORS,
                         ids=[v[0] for v in VECTORS])
def test_golden_vector(profile_name: str, name: str, message: Message, bitmap: str,
                       pieces: list[tuple[bytes, bytes]]) -> None:
    profile = load_profile(profile_name)
    msg = Message(message.mti, dict(message.fields), TPDU if profile_name == "bcd" else None)
    want = expected(profile_name, msg.mti, bitmap, pieces)
    assert profile.encode(msg) == want
    decoded = profile.decode(want)
    assert decoded == msg
    assert profile.struct.parse(want) == msg
    assert profile.struct.build(msg) == want


def test_every_processing_code_and_mti_has_a_vector() -> None:
    codes = {(m.mti, m.fields.get(3)) for _, m, _, _ in VECTORS}
    for code in ("000000", "900000", "310000", "200000", "210060", "006000", "930000"):
        assert ("0200", code) in codes
    mtis = {m.mti for _, m, _, _ in VECTORS}
    assert {"0200", "0210", "0220", "0400", "0401", "0410", "0420", "0421", "0500", "0510",
            "0800", "0810"} <= mtis


def test_bcd_tpdu_is_swapped_for_replies() -> None:
    assert Message("0210", tpdu=TPDU).swapped_tpdu() == H("6000020001")
