"""A readable tour of LPS-87: one sample of every message, encoded and decoded in both profiles."""

from __future__ import annotations

from .loyalty import AmountEntry, OriginalData, build_de54, build_de90, build_tlv
from .message import Message
from .profile import load_profile

WHEN = "1123093015"
PAN = "6280001234567895"
BASE = {7: WHEN, 41: "T0000001", 42: "STORE0000000001"}


def samples() -> list[tuple[str, Message]]:
    """One message of every MTI and processing code of PROTOCOL.md §4."""
    def req(mti: str, stan: str, code: str, amount: str | None = None,
            **extra: str | bytes) -> Message:
        fields: dict[int, str | bytes] = {2: PAN, 3: code, 11: stan, **BASE}
        if amount is not None:
            fields[4] = amount
        fields.update({int(k[2:]): v for k, v in extra.items()})
        return Message(mti, fields)

    balance = build_de54([AmountEntry("00", "02", "999", 1215)])
    return [
        ("sign-on", Message("0800", {7: WHEN, 11: "000001", 41: "T0000001", 70: "001"})),
        ("earn", req("0200", "000002", "000000", "000001500000", DE22="051", DE62="000001")),
        ("earn approved", req("0210", "000002", "000000", "000001500000", DE37="000000000001",
                              DE38="A00001", DE39="00",
                              DE48=build_tlv({"EP": "150", "TR": "BLUE",
                                              "MS": "۱۵۰ امتیاز گرفتید"}),
                              DE54=balance)),
        ("redeem points", req("0200", "000003", "900000", "000000250000",
                              DE48=build_tlv({"RP": "250"}))),
        ("balance inquiry", req("0200", "000004", "310000")),
        ("return", req("0200", "000005", "200000", "000000500000",
                       DE48=build_tlv({"OR": "000000000001"}))),
        ("stored-value top-up", req("0200", "000006", "210060", "000001000000")),
        ("stored-value purchase", req("0200", "000007", "006000", "000000300000")),
        ("stamp reward", req("0200", "000008", "930000")),
        ("offline earn advice", req("0220", "000009", "000000", "000000400000")),
        ("reversal", req("0400", "000010", "000000", "000001500000",
                         DE90=build_de90(OriginalData("0200", "000002", WHEN)))),
        ("batch close", Message("0500", {3: "920000", 11: "000011", 62: "000001",
                                         74: "0000000002", 75: "0000000001",
                                         76: "0000000001", 77: "0000000000",
                                         86: "0000000001900000", 87: "0000000001500000",
                                         88: "0000000000250000", 89: "0000000000000000",
                                         128: bytes(8), **BASE})),
    ]


def main() -> None:
    for title, message in samples():
        for name in ("ascii", "bcd"):
            profile = load_profile(name)
            msg = Message(message.mti, dict(message.fields),
                          b"\x60\x00\x01\x00\x02" if profile.tpdu_size else None)
            raw = profile.encode(msg)
            back = profile.decode(raw)
            assert back == msg, f"{title}: {name} round trip differs"
            print(f"== {title} ({name}, {len(raw)} bytes)")
            print("   " + raw.hex(" ", 1)[:3 * 48] + (" ..." if len(raw) > 48 else ""))
            for line in profile.describe(back):
                print("   " + line)
        print()


if __name__ == "__main__":
    main()
