"""The cross-check corpus: realistic LPS-87 messages written from docs/protocol.md alone.

Standard library only: this module is imported by the pyiso8583 side (its own virtual
environment) and must not depend on the LPS `iso8583` package. Values follow the LPS `Message`
API: `n`/`z`/text fields as `str` (fixed `n` at full length, `z` with "=" as separator), `b`
fields as `bytes`, DE48 as UTF-8 text. Every message goes through both profiles; in `bcd` a
request carries TPDU 60 0001 0010 and a response the same with the NIIs swapped.
"""

from __future__ import annotations

from typing import Any

REQUEST_TPDU = bytes.fromhex("6000010010")
RESPONSE_TPDU = bytes.fromhex("6000100001")
PROFILES = ("ascii", "bcd")

# Messages the benchmarks use (0200 earn, 0210 with DE48 and DE54, 0400
# with DE90, 0500 with the secondary bitmap, 0800).
BENCH_IDS = ("0200-000000-earn", "0210-000000-earn-approved", "0400-000000-reversal",
             "0500-920000-batch-close", "0800-101-key-exchange")


def luhn(body: str) -> str:
    """`body` with its Luhn check digit appended (docs/protocol.md §2: DE2 is Luhn-valid)."""
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return body + str((10 - total % 10) % 10)


def tlv(*pairs: tuple[str, str]) -> str:
    """DE48: tag (2) + length (3 digits counting the value's UTF-8 bytes) + value (§3)."""
    return "".join(f"{tag}{len(value.encode('utf-8')):03d}{value}" for tag, value in pairs)


def de54(*entries: tuple[str, str, str, int]) -> str:
    """DE54: account type (2) + amount type (2) + currency (3) + C/D + amount (12) (§3)."""
    out = []
    for account, kind, currency, amount in entries:
        sign = "D" if amount < 0 else "C"
        out.append(f"{account}{kind}{currency}{sign}{abs(amount):012d}")
    return "".join(out)


def de90(mti: str, stan: str, when: str) -> str:
    """DE90: original MTI (4) + STAN (6) + DE7 (10) + 22 zeros."""
    return f"{mti}{stan}{when}" + "0" * 22


PAN16 = luhn("628000123456789")          # 16 digits: even BCD length
PAN19 = luhn("627412000000123456")        # 19 digits: odd, left-padded 0 nibble in bcd
PAN13 = luhn("628000000001")              # 13 digits: shortest PAN LPS-87 accepts
TRACK2_ODD = f"{PAN16}=291210100000"      # 29 characters: F nibble pad in bcd
TRACK2_EVEN = f"{PAN19}=2912101000"       # 30 characters
MAC = bytes.fromhex("A1B2C3D4E5F60718")
MAC_B = bytes.fromhex("0F1E2D3C4B5A6978")
PIN_BLOCK = bytes.fromhex("041234FEDCBA9876")
TERMINAL = "T0000001"
STORE = "STORE0000000001"
BATCH = "000042"
WHEN = "1123120000"
PERSIAN_MS = "امتیاز شما: ۱٬۲۵۰ — سپاس از خرید شما"
PERSIAN_ZWNJ = "می‌توانید امتیازها را در فروشگاه‌ها خرج کنید"
MK = "6F1A2B3C4D5E6F708192A3B4C5D6E7F8"
PK = "0123456789ABCDEFFEDCBA9876543210"

assert len(TRACK2_ODD) % 2 == 1 and len(TRACK2_EVEN) % 2 == 0


def _request(mti: str, stan: str, **extra: Any) -> dict[int, Any]:
    fields: dict[int, Any] = {7: WHEN, 11: stan, 41: TERMINAL}
    fields.update({int(k[2:]): v for k, v in extra.items()})
    return fields


def _response(request: dict[int, Any], *, approved: bool = True, code: str = "00",
              financial: bool = True, **extra: Any) -> dict[int, Any]:
    """§4: echo DE2/3/4/7/11/41/42/62/70, add DE37 (financial), DE39, DE38 on approval."""
    fields = {n: v for n, v in request.items() if n in (2, 3, 4, 7, 11, 41, 42, 62, 70)}
    if financial:
        fields[37] = "633012" + request[11]
    fields[39] = code
    if approved and financial:
        fields[38] = "A" + request[11][1:]
    fields.update({int(k[2:]): v for k, v in extra.items()})
    return fields


def messages() -> list[dict[str, Any]]:
    """Every MTI and processing code of docs/protocol.md §4 with its response."""
    out: list[dict[str, Any]] = []

    def add(ident: str, mti: str, fields: dict[int, Any], note: str) -> dict[int, Any]:
        out.append({"id": ident, "mti": mti, "fields": fields, "note": note})
        return fields

    earn = add("0200-000000-earn", "0200", _request(
        "0200", "000101", DE2=PAN16, DE3="000000", DE4="000000250000", DE12="153000",
        DE13="1123", DE14="2912", DE22="051", DE25="00", DE42=STORE,
        DE48=tlv(("IN", "INV-2026-000101"), ("CS", "CASHIER07")), DE49="364", DE62=BATCH,
        DE64=MAC), "purchase, earn points; chip; with MAC")
    add("0210-000000-earn-approved", "0210", _response(
        earn, DE48=tlv(("EP", "250"), ("TR", "GOLD"), ("XP", "1200@20270101"),
                       ("MS", PERSIAN_MS)),
        DE54=de54(("00", "02", "999", 15250), ("60", "02", "364", 4_500_000)), DE64=MAC_B),
        "approved earn: DE48 with Persian UTF-8 MS, DE54 points and purse balances")

    burn = add("0200-900000-redeem", "0200", _request(
        "0200", "000102", DE2=PAN19, DE3="900000", DE4="000000120000", DE22="051",
        DE42=STORE, DE48=tlv(("RP", "500"), ("IN", "INV-000102")), DE49="364",
        DE52=PIN_BLOCK, DE62=BATCH), "redeem points with PIN block (DE52 binary), 19-digit PAN")
    add("0210-900000-redeem-approved", "0210", _response(
        burn, DE48=tlv(("RD", "500"), ("TR", "SILVER")),
        DE54=de54(("00", "02", "999", 14750))), "approved redemption")

    inquiry = add("0200-310000-balance", "0200", _request(
        "0200", "000103", DE3="310000", DE22="021", DE35=TRACK2_ODD, DE42=STORE),
        "balance inquiry from magstripe: DE35 track 2 of odd length, no DE4")
    add("0210-310000-balance", "0210", _response(
        inquiry, DE48=tlv(("TR", "GOLD"), ("XP", "0@00000000")),
        DE54=de54(("00", "02", "999", 15250), ("60", "02", "364", -20000))),
        "balance answer with a negative purse (D)")

    refund = add("0200-200000-return", "0200", _request(
        "0200", "000104", DE2=PAN13, DE3="200000", DE4="000000050000", DE22="012",
        DE42=STORE, DE48=tlv(("OR", "633012000101"), ("IN", "RET-104")), DE62=BATCH),
        "return of an earlier purchase, 13-digit PAN keyed")
    add("0210-200000-return", "0210", _response(
        refund, DE48=tlv(("EP", "0"), ("TR", "GOLD")), DE54=de54(("00", "02", "999", 15200))),
        "approved return")

    topup = add("0200-210060-topup", "0200", _request(
        "0200", "000105", DE3="210060", DE4="000001000000", DE22="021", DE35=TRACK2_EVEN,
        DE42=STORE, DE49="364", DE62=BATCH), "purse top-up, DE35 track 2 of even length")
    add("0210-210060-topup", "0210", _response(
        topup, DE54=de54(("00", "02", "999", 15200), ("60", "02", "364", 1_050_000))),
        "approved top-up (the response echoes no DE35)")

    spend = add("0200-006000-purse", "0200", _request(
        "0200", "000106", DE2=PAN16, DE3="006000", DE4="000000300000", DE22="071",
        DE42=STORE, DE52=PIN_BLOCK, DE62=BATCH), "purchase from the stored-value purse")
    add("0210-006000-declined", "0210", _response(
        spend, approved=False, code="51"), "declined 51: no DE38, DE48 or DE54")

    stamp = add("0200-930000-stamp", "0200", _request(
        "0200", "000107", DE2=PAN16, DE3="930000", DE22="081", DE42=STORE),
        "redeem one stamp reward, barcode entry, no DE4")
    add("0210-930000-stamp", "0210", _response(
        stamp, DE48=tlv(("SC", "0"), ("SR", "0"), ("MS", PERSIAN_ZWNJ))),
        "stamp redeemed; Persian MS with zero-width non-joiners")

    advice = add("0220-000000-advice", "0220", _request(
        "0220", "000108", DE2=PAN16, DE3="000000", DE4="000000075000", DE12="101500",
        DE13="1122", DE22="051", DE42=STORE, DE62=BATCH), "offline earn advice")
    add("0230-000000-advice", "0230", _response(advice, DE48=tlv(("EP", "75"))),
        "advice answered")

    original = de90("0200", "000101", WHEN)
    reversal = add("0400-000000-reversal", "0400", _request(
        "0400", "000109", DE2=PAN16, DE3="000000", DE4="000000250000", DE42=STORE,
        DE62=BATCH, DE90=original, DE128=MAC), "reversal of the earn, DE90, MAC in DE128")
    add("0401-000000-repeat", "0401", _request(
        "0401", "000109", DE2=PAN16, DE3="000000", DE4="000000250000", DE42=STORE,
        DE62=BATCH, DE90=original), "reversal repeat")
    add("0410-000000-reversal", "0410", _response(reversal, DE128=MAC_B), "reversal approved")
    add("0410-000000-unknown", "0410", _response(reversal, approved=False, code="25"),
        "reversal of an unknown original")

    advice_rev = add("0420-900000-reversal-advice", "0420", _request(
        "0420", "000110", DE2=PAN19, DE3="900000", DE4="000000120000", DE42=STORE,
        DE90=de90("0200", "000102", WHEN)), "reversal advice of the redemption")
    add("0421-900000-repeat", "0421", dict(advice_rev), "reversal advice repeat")
    add("0430-900000-reversal-advice", "0430", _response(advice_rev), "advice answered")

    close = add("0500-920000-batch-close", "0500", _request(
        "0500", "000111", DE3="920000", DE42=STORE, DE62=BATCH, DE74="0000000012",
        DE75="0000000001", DE76="0000000003", DE77="0000000000",
        DE86="0000000003250000", DE87="0000000000250000", DE88="0000000000420000",
        DE89="0000000000000000", DE128=MAC), "batch close, secondary bitmap, DE128")
    add("0510-920000-out-of-balance", "0510", _response(close, approved=False, code="95",
                                                        financial=False, DE128=MAC_B),
        "out of balance")

    for code, name in (("001", "sign-on"), ("002", "sign-off"), ("101", "key-exchange"),
                       ("301", "echo")):
        request = add(f"0800-{code}-{name}", "0800", _request("0800", f"00{code}0",
                                                              DE70=code), f"network {name}")
        extra: dict[str, Any] = {}
        if code == "101":
            extra["DE48"] = tlv(("MK", MK), ("MV", "8CA64D"), ("PK", PK), ("PV", "D5D44F"))
        add(f"0810-{code}-{name}", "0810", _response(request, financial=False, **extra),
            f"network {name} answered")
    return out


def corpus() -> list[dict[str, Any]]:
    """Every message in every profile, with its TPDU in `bcd`."""
    entries = []
    for profile in PROFILES:
        for message in messages():
            tpdu = None
            if profile == "bcd":
                tpdu = RESPONSE_TPDU if message["mti"][2] in "13" else REQUEST_TPDU
            entries.append({**message, "profile": profile, "tpdu": tpdu})
    return entries


def to_json_value(value: Any) -> Any:
    """`bytes` as {"hex": ...}; text as it is."""
    return {"hex": value.hex().upper()} if isinstance(value, bytes) else value


def from_json_value(value: Any) -> Any:
    return bytes.fromhex(value["hex"]) if isinstance(value, dict) else value
