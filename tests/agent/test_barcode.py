"""The barcode scanner over a pty: each line of digits is a card (DE22 081)."""

from __future__ import annotations

import asyncio

import pytest

from terminal_agent.card.apdu import CardError, LoyaltyCard
from terminal_agent.card.barcode import BarcodeScanner, parse_scan
from tests.waits import EVENT

from .register import Register


def test_parse_scan() -> None:
    assert parse_scan(b"6280001234567895\r\n") == LoyaltyCard("6280001234567895", None, "",
                                                               "081")
    for bad in (b"62800012345678X5", b"6280001234567894", b"123"):
        with pytest.raises(CardError):
            parse_scan(bad)


def test_scanner_on_pty() -> None:
    reg = Register()

    async def run() -> None:
        scanner = BarcodeScanner(reg.port)
        await scanner.open()
        try:
            reg.write(b"6280001234567895\r\n628000123\n")
            first = await asyncio.wait_for(scanner.scans.get(), EVENT)
            second = await asyncio.wait_for(scanner.scans.get(), EVENT)
            assert isinstance(first, LoyaltyCard) and first.entry_mode == "081"
            assert isinstance(second, CardError)
        finally:
            scanner.close()

    try:
        asyncio.run(run())
    finally:
        reg.close()
