"""The LPS card application of docs/protocol.md §9 as pure functions: APDUs out, a card in."""

from __future__ import annotations

from dataclasses import dataclass

from .. import is_ascii_digits

AID = bytes.fromhex("F04C4F59414C5459")
SELECT = bytes([0x00, 0xA4, 0x04, 0x00, len(AID)]) + AID
READ_RECORD_1 = bytes([0x00, 0xB2, 0x01, 0x0C, 0x00])

CHIP, CONTACTLESS, BARCODE = "051", "071", "081"


class CardError(Exception):
    """A card that cannot be used; `kind` is one of the names below, `str()` is for people."""

    NO_APP = "no-lps-application"
    MUTE = "mute"
    REMOVED = "removed"
    BAD_DATA = "bad-data"
    READER = "reader-error"

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


@dataclass(frozen=True)
class LoyaltyCard:
    pan: str
    expiry: str | None  # DE14, YYMM
    holder: str
    entry_mode: str  # DE22: 051 chip, 071 contactless, 081 barcode

    @property
    def masked(self) -> str:
        return mask_pan(self.pan)


def mask_pan(pan: str) -> str:
    """First 6 and last 4 digits, the rest as `*` (docs/protocol.md §6)."""
    if len(pan) <= 10:
        return "*" * len(pan)
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def luhn_ok(pan: str) -> bool:
    if not is_ascii_digits(pan):
        return False
    total = 0
    for i, ch in enumerate(reversed(pan)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def valid_pan(pan: str) -> bool:
    return 13 <= len(pan) <= 19 and luhn_ok(pan)


def entry_mode_from_atr(atr: bytes) -> str:
    """PC/SC part 3 builds a contactless card's ATR as 3B 8n 80 01 ...; all else is contact."""
    if len(atr) >= 4 and atr[0] == 0x3B and atr[1] & 0xF0 == 0x80 and atr[2:4] == b"\x80\x01":
        return CONTACTLESS
    return CHIP


def parse_tlv(data: bytes) -> dict[int, bytes]:
    """BER-TLV at one level: {tag: value}. Raises CardError(BAD_DATA) on a broken run."""
    out: dict[int, bytes] = {}
    i = 0
    while i < len(data):
        if data[i] in (0x00, 0xFF):  # padding between objects
            i += 1
            continue
        tag = data[i]
        i += 1
        if tag & 0x1F == 0x1F:
            while True:
                if i >= len(data):
                    raise CardError(CardError.BAD_DATA, "TLV tag runs past the record")
                tag = (tag << 8) | data[i]
                i += 1
                if not data[i - 1] & 0x80:
                    break
        if i >= len(data):
            raise CardError(CardError.BAD_DATA, f"TLV tag {tag:X} has no length")
        length = data[i]
        i += 1
        if length & 0x80:
            n = length & 0x7F
            if n == 0 or n > 2 or i + n > len(data):
                raise CardError(CardError.BAD_DATA, f"TLV tag {tag:X} has a bad length")
            length = int.from_bytes(data[i : i + n], "big")
            i += n
        if i + length > len(data):
            raise CardError(CardError.BAD_DATA, f"TLV tag {tag:X} runs past the record")
        out[tag] = data[i : i + length]
        i += length
    return out


def parse_record(record: bytes, entry_mode: str) -> LoyaltyCard:
    """READ RECORD 1's template 70 -> the card; every fault is a named CardError."""
    outer = parse_tlv(record)
    if 0x70 not in outer:
        raise CardError(CardError.BAD_DATA, "record is not a template 70")
    inner = parse_tlv(outer[0x70])
    if 0x5A not in inner:
        raise CardError(CardError.BAD_DATA, "template 70 has no PAN (5A)")
    pan = inner[0x5A].hex().upper().rstrip("F")
    if not valid_pan(pan):
        raise CardError(CardError.BAD_DATA, "PAN on the card is not a valid card number")
    expiry: str | None = None
    if 0x5F24 in inner:
        raw = inner[0x5F24].hex()
        if (len(raw) != 6 or not is_ascii_digits(raw) or not 1 <= int(raw[2:4]) <= 12
                or not 1 <= int(raw[4:]) <= 31):
            raise CardError(CardError.BAD_DATA, "expiry (5F24) is not YYMMDD")
        expiry = raw[:4]
    holder = inner.get(0x5F20, b"").decode("ascii", "replace").strip()
    return LoyaltyCard(pan, expiry, holder, entry_mode)




def check_select(sw: int) -> None:
    if sw == 0x9000:
        return
    if sw in (0x6A82, 0x6A81, 0x6999, 0x6D00, 0x6E00):
        raise CardError(CardError.NO_APP, f"not an LPS card (SELECT answered {sw:04X})")
    raise CardError(CardError.NO_APP, f"SELECT of the LPS application failed ({sw:04X})")


def check_read(sw: int) -> None:
    if sw != 0x9000:
        raise CardError(CardError.BAD_DATA, f"READ RECORD 1 failed ({sw:04X})")
