"""A hostile card through the real pcscd + vpcd (docs/agent.md, "Cards"): status words it should
not give, answers that never end, records whose TLV lengths lie, card numbers that are not card
numbers. Every read ends, promptly, with a card or a CardError, never another exception; a PAN
is never quoted in clear. One card stays in the slot and changes its answers between reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from terminal_agent.card.apdu import CardError, parse_record
from terminal_agent.card.pcsc import read_card
from terminal_agent.testing.services import wait_slot_empty
from terminal_agent.testing.vicc import AID, VPCD_PORTS, VPCD_READERS, VirtualLoyaltyCard, tlv
from tests.waits import EVENT

from .conftest import wait_presence

R0 = VPCD_READERS[0]
PAN = "6280001234567895"
SELECTED = tlv(b"\x6f", tlv(b"\x84", AID)) + b"\x90\x00"
Script = Callable[[bytes], bytes]


class ScriptedCard(VirtualLoyaltyCard):
    """Answers every APDU with `script(apdu)`; without a script, as a good LPS card."""

    script: Script | None = None

    def answer(self, apdu: bytes) -> bytes | None:
        return self.script(apdu) if self.script is not None else super().answer(apdu)


def record(pan_bcd: bytes = bytes.fromhex(PAN), expiry: bytes = bytes.fromhex("301231")) -> bytes:
    return tlv(b"\x70", tlv(b"\x5a", pan_bcd) + tlv(b"\x5f\x24", expiry))


def reading(read: Callable[[bytes], bytes]) -> Script:
    """SELECT answered as an LPS card does; every other APDU by `read`."""
    return lambda apdu: SELECTED if apdu[1] == 0xA4 else read(apdu)


def chained(data: bytes, part: int = 16) -> Script:
    """READ RECORD answered 61xx, the record then given `part` bytes per GET RESPONSE."""
    left = bytearray()

    def read(apdu: bytes) -> bytes:
        if apdu[1] == 0xB2:
            left[:] = data
        chunk = bytes(left[:part])
        del left[:part]
        return chunk + (bytes([0x61, min(part, len(left))]) if left else b"\x90\x00")

    return reading(read)


def wrong_length_once(data: bytes) -> Script:
    """READ RECORD with Le 00 answered 6Cxx, then the record for Le = xx."""
    return reading(lambda apdu: data + b"\x90\x00" if apdu[4] == len(data)
                   else bytes([0x6C, len(data)]))


#: What a card answers, and the CardError kind the read must end with.
HOSTILE: dict[str, tuple[Script, str]] = {
    "SELECT warns (6283)": (lambda apdu: b"\x62\x83", CardError.NO_APP),
    "SELECT answers 9000 to nothing": (lambda apdu: b"\x90\x00" if apdu[1] == 0xA4
                                       else b"\x6a\x83", CardError.BAD_DATA),
    "READ RECORD: record not found (6A83)": (reading(lambda apdu: b"\x6a\x83"),
                                             CardError.BAD_DATA),
    "READ RECORD: end of record (6282) with half a record": (
        reading(lambda apdu: record()[:9] + b"\x62\x82"), CardError.BAD_DATA),
    "READ RECORD: 9000 and no data": (reading(lambda apdu: b"\x90\x00"), CardError.BAD_DATA),
    "READ RECORD: a truncated record": (reading(lambda apdu: record()[:-3] + b"\x90\x00"),
                                        CardError.BAD_DATA),
    "READ RECORD: a template longer than the record": (
        reading(lambda apdu: b"\x70\x81\xf0" + record()[2:] + b"\x90\x00"), CardError.BAD_DATA),
    "READ RECORD: a PAN length past the template": (
        reading(lambda apdu: b"\x70\x0a\x5a\x20" + bytes.fromhex(PAN) + b"\x90\x00"),
        CardError.BAD_DATA),
    "READ RECORD: a PAN with hex nibbles": (
        reading(lambda apdu: record(bytes.fromhex("62800012345678AB")) + b"\x90\x00"),
        CardError.BAD_DATA),
    "READ RECORD: a PAN that fails Luhn": (
        reading(lambda apdu: record(bytes.fromhex("6280001234567896")) + b"\x90\x00"),
        CardError.BAD_DATA),
    "GET RESPONSE without end": (reading(lambda apdu: bytes(16) + b"\x61\x10"),
                                 CardError.BAD_DATA),
    "a wrong length without end (6Cxx)": (reading(lambda apdu: b"\x6c\x10"),
                                          CardError.BAD_DATA),
    "an answer without a status word": (reading(lambda apdu: b"\x90"), CardError.REMOVED),
}


@pytest.fixture
def card(vpcd_slots: None) -> Iterator[ScriptedCard]:
    wait_slot_empty(R0)
    vc = ScriptedCard(port=VPCD_PORTS[0])
    vc.insert()
    wait_presence(R0, True)
    yield vc
    vc.remove()


def test_a_hostile_card_ends_every_read_with_a_card_error(card: ScriptedCard) -> None:
    async def run() -> None:
        for case, (script, kind) in HOSTILE.items():
            card.script = script
            with pytest.raises(CardError) as err:
                await read_card(R0, EVENT)
            assert err.value.kind == kind, (case, str(err.value))
            assert PAN not in str(err.value)
        # the same card, answering properly again, is read
        card.script = None
        assert (await read_card(R0, EVENT)).pan == PAN

    asyncio.run(run())


def test_long_and_resized_answers_that_end_are_read(card: ScriptedCard) -> None:
    padded = record() + bytes(200)  # padding after the template, over 13 GET RESPONSEs
    async def run() -> None:
        for script in (chained(padded), wrong_length_once(record())):
            card.script = script
            assert (await read_card(R0, EVENT)).pan == PAN

    asyncio.run(run())


@pytest.mark.parametrize("expiry", ["301331", "300031", "301200", "991299"])
def test_an_expiry_that_is_no_date_is_refused(expiry: str) -> None:
    """5F24 is YYMMDD: month 13 or 00 would reach the switch as DE14 and be declined `30`, a
    queued earn with it lost after the register was told `XQ`."""
    with pytest.raises(CardError) as err:
        parse_record(record(expiry=bytes.fromhex(expiry)), "071")
    assert err.value.kind == CardError.BAD_DATA
    assert parse_record(record(expiry=bytes.fromhex("301231")), "071").expiry == "3012"
