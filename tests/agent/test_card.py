"""The LPS card application through a real pcscd + vpcd, with a virtual card in the tests."""

from __future__ import annotations

import asyncio
import threading

import pytest

from terminal_agent.card.apdu import (
    CardError,
    entry_mode_from_atr,
    luhn_ok,
    mask_pan,
    parse_record,
    parse_tlv,
)
from terminal_agent.card.pcsc import (
    CardEvent,
    ReaderWatcher,
    describe_reader,
    list_readers,
    read_card,
    read_card_blocking,
)
from terminal_agent.testing.vicc import ATR_CONTACT, VPCD_READERS, VirtualLoyaltyCard
from tests.waits import EVENT, START

from .conftest import InsertCard, wait_presence

R0 = VPCD_READERS[0]


def test_record_parsing_pure() -> None:
    card = VirtualLoyaltyCard(pan="6280001234567895", expiry="301231", holder="A B")
    parsed = parse_record(card.record(), "051")
    assert (parsed.pan, parsed.expiry, parsed.holder) == ("6280001234567895", "3012", "A B")
    bad = VirtualLoyaltyCard(pan="6280001234567")  # 13 digits, Luhn check fails
    assert luhn_ok("6280001234567") is False
    with pytest.raises(CardError) as e:
        parse_record(bad.record(), "051")
    assert e.value.kind == CardError.BAD_DATA
    # an odd digit count is padded with an F nibble on the card
    assert parse_record(VirtualLoyaltyCard(pan="6280001234568").record(), "051").pan == (
        "6280001234568")


def test_tlv_faults_are_named() -> None:
    for bad in (b"\x70\x05\x5a\x01", b"\x5f", b"\x70", b"\x70\x83\x00\x00\x01"):
        with pytest.raises(CardError):
            parse_tlv(bad)
    assert parse_tlv(b"\x00\x5f\x20\x01A\xff") == {0x5F20: b"A"}


def test_mask_and_entry_mode() -> None:
    assert mask_pan("6280001234567895") == "628000******7895"
    assert entry_mode_from_atr(bytes.fromhex("3B8880014C4F59414C5459C5")) == "071"
    assert entry_mode_from_atr(ATR_CONTACT) == "051"


def test_readers_listed(pcscd: None) -> None:
    assert R0 in list_readers()


def test_a_card_put_in_right_after_another_left_the_slot_is_read(vcard: InsertCard) -> None:
    """vpcd keeps the card that left until pcscd's next presence poll: a card put in before
    then is not the one PC/SC talks to, and its SELECT fails (0x80100016). The fixture puts a
    card only into a slot PC/SC sees empty."""
    for pan in ("6280001234567895", "6280005555555553", "6280001234567895"):
        vc = vcard(pan=pan)
        assert read_card_blocking(R0).pan == pan
        vc.remove()


def test_read_contactless_card(vcard: InsertCard) -> None:
    vc = vcard(pan="6280001234567895", expiry="301231", holder="NADERI/SARA")
    card = read_card_blocking(R0)
    assert card.pan == "6280001234567895"
    assert card.expiry == "3012"
    assert card.holder == "NADERI/SARA"
    assert card.entry_mode == "071"
    assert vc.apdus[0] == bytes.fromhex("00A4040008F04C4F59414C5459")
    assert vc.apdus[1] == bytes.fromhex("00B2010C00")


def test_read_contact_card_second_slot(vcard: InsertCard) -> None:
    vcard(slot=1, atr=ATR_CONTACT, pan="6280005555555553")
    card = read_card_blocking(VPCD_READERS[1])
    assert (card.pan, card.entry_mode) == ("6280005555555553", "051")


@pytest.mark.parametrize(("mode", "kind"), [
    ("no_app", CardError.NO_APP),
    ("pull", CardError.REMOVED),
    ("garbage", CardError.BAD_DATA),
])
def test_card_faults(vcard: InsertCard, mode: str, kind: str) -> None:
    vcard(mode=mode)
    with pytest.raises(CardError) as e:
        read_card_blocking(R0)
    assert e.value.kind == kind, str(e.value)


def test_mute_card_times_out(vcard: InsertCard) -> None:
    vc = vcard(mode="mute")

    async def run() -> None:
        with pytest.raises(CardError) as e:
            await read_card(R0, timeout=0.5)
        assert e.value.kind == CardError.MUTE
        vc.remove()  # the blocked PC/SC call returns once the card is gone

    asyncio.run(run())


def test_describe_reader(vcard: InsertCard) -> None:
    vcard()
    assert describe_reader(R0, True).startswith("LPS card 628000******7895 expires 3012")


def test_describe_reader_masks_a_card_number_written_as_the_holder(vcard: InsertCard) -> None:
    """`lps-agent readers` prints the holder name as the card stores it: a card number there
    (another card's, or the card's own) is masked as the PAN is (docs/protocol.md §6)."""
    vcard(holder="6280001234567804 NADERI")
    said = describe_reader(R0, True)
    assert "628000******7804 NADERI" in said and "6280001234567804" not in said, said


def test_watcher_sees_insert_and_removal(vpcd_slots: None) -> None:
    events: list[CardEvent] = []
    seen = threading.Condition()

    def on_event(ev: CardEvent) -> None:
        with seen:
            events.append(ev)
            seen.notify_all()

    watcher = ReaderWatcher(on_event, poll_ms=100)
    watcher.start()
    try:
        vc = VirtualLoyaltyCard()
        vc.insert()
        with seen:
            assert seen.wait_for(lambda: any(e.inserted and e.reader == R0 for e in events),
                                 EVENT)
        vc.remove()
        with seen:
            assert seen.wait_for(
                lambda: any(not e.inserted and e.reader == R0 for e in events), EVENT)
        wait_presence(R0, False)
    finally:
        watcher.stop()


def test_cli_readers_lists_what_each_card_answers(vcard: InsertCard) -> None:
    import subprocess
    import sys
    from pathlib import Path

    vcard(slot=0, pan="6280001234567895")
    vcard(slot=1, mode="no_app")
    out = subprocess.run([sys.executable, "-m", "terminal_agent", "readers"], capture_output=True,
                         text=True, cwd=Path(__file__).resolve().parents[2], timeout=START)
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines())
    assert lines[VPCD_READERS[0]].startswith("LPS card 628000******7895 expires 3012")
    assert lines[VPCD_READERS[1]].startswith("card present: no-lps-application")
    assert "6280001234567895" not in out.stdout
