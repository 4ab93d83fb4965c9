"""The barcode scanner over a pty: each line of digits is a card (DE22 081)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

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


def on_scanner(body: Callable[[Register, BarcodeScanner], Awaitable[None]]) -> None:
    """`body` with a scanner open on a fresh pty; both closed after."""
    reg = Register()

    async def run() -> None:
        scanner = BarcodeScanner(reg.port)
        await scanner.open()
        try:
            await body(reg, scanner)
        finally:
            scanner.close()

    try:
        asyncio.run(run())
    finally:
        reg.close()


def test_scanner_on_pty() -> None:
    async def body(reg: Register, scanner: BarcodeScanner) -> None:
        reg.write(b"6280001234567895\r\n628000123\n")
        first = await asyncio.wait_for(scanner.scans.get(), EVENT)
        second = await asyncio.wait_for(scanner.scans.get(), EVENT)
        assert isinstance(first, LoyaltyCard) and first.entry_mode == "081"
        assert isinstance(second, CardError)

    on_scanner(body)


def test_hostile_scans_are_refused_and_the_next_good_one_read(
        caplog: pytest.LogCaptureFixture) -> None:
    """Lines that are no card numbers (other scripts' digits, control bytes, 100 digits, a flood
    without an end of line) are each refused or dropped; a good scan after them is read, and
    no digits beyond the first 6 and last 4 of anything scanned reach the log."""
    long = "9" * 96 + "1234"
    hostile = ("۶۲۸۰۰۰۱۲۳۴۵۶۷۸۹۵\r\n".encode() + b"6280\x00001234567895\r\n"
               + long.encode() + b"\n" + b"7" * 100_000 + b"\r\n")

    async def body(reg: Register, scanner: BarcodeScanner) -> None:
        await asyncio.to_thread(reg.write, hostile + b"6280001234567895\r\n")
        while not isinstance(got := await asyncio.wait_for(scanner.scans.get(), EVENT),
                             LoyaltyCard):
            assert isinstance(got, CardError)
        assert got.pan == "6280001234567895"

    on_scanner(body)
    assert long not in caplog.text and "7" * 11 not in caplog.text


def test_a_scanner_line_that_hangs_up_is_closed_not_spun_on(
        caplog: pytest.LogCaptureFixture) -> None:
    """A scanner unplugged (the line hangs up) stays readable with an error: reading it again
    and again would spin the agent's loop and flood the log."""
    async def body(reg: Register, scanner: BarcodeScanner) -> None:
        os.close(reg.master)
        await asyncio.wait_for(scanner.lost.wait(), EVENT)
        assert not scanner.is_open

    on_scanner(body)
    assert len([r for r in caplog.records if r.name == "lps.agent.barcode"]) <= 2
