"""The barcode scanner over a pty: each line of digits is a card (DE22 081)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from itertools import islice
from pathlib import Path

import pytest

from terminal_agent.agent import Agent
from terminal_agent.card.apdu import CardError, LoyaltyCard
from terminal_agent.card.barcode import MAX_SCANS, BarcodeScanner, parse_scan, retry_delays
from terminal_agent.config import from_mapping
from tests.waits import EVENT

from .records import recording
from .register import ACK, Register, fields
from .scripted_switch import ScriptedSwitch

PAN = "6280001234567895"


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


def test_scans_no_request_waits_for_are_not_kept_without_end(
        caplog: pytest.LogCaptureFixture) -> None:
    """A scanner left in continuous mode, or a device that is no scanner, sends line after line
    while no request waits: only the newest few are kept (the agent drops them all when a
    request starts, docs/agent.md "Cards"), not every one until the next sale."""
    caplog.set_level(logging.INFO, logger="lps.agent.barcode")
    last = "6280001234567804"

    async def body(reg: Register, scanner: BarcodeScanner) -> None:
        await asyncio.to_thread(reg.write, f"{PAN}\r\n".encode() * 2000 + f"{last}\n".encode())
        await records.wait("scanned card 628000******7804")
        assert 0 < scanner.scans.qsize() <= MAX_SCANS
        kept = [scanner.scans.get_nowait() for _ in range(scanner.scans.qsize())]
        assert isinstance(kept[-1], LoyaltyCard) and kept[-1].pan == last

    with recording("lps.agent.barcode") as records:
        on_scanner(body)


def test_retries_double_from_half_a_second_to_five() -> None:
    assert list(islice(retry_delays(), 7)) == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def scanner_agent(tmp: Path, switch: str, register: str, scanner: Path) -> Agent:
    return Agent(from_mapping({
        "terminal_id": "T0000001", "store_id": "STORE0000000001", "switch": switch,
        "data_dir": str(tmp / "data"), "ecr_port": register, "barcode_port": str(scanner),
        "reader": "none", "card_wait_seconds": EVENT, "request_timeout_seconds": EVENT,
        "reconnect_max_seconds": 0.5}, "test"))


def test_a_replugged_scanner_is_opened_again_and_its_scan_reaches_the_switch(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The scanner is unplugged (its line hangs up, its device goes away) and plugged in again
    under the same name, as udev's /dev/serial/by-id links name a USB scanner: the agent tries
    again meanwhile, serves the register, and reads the next scan once it is back. The outage
    is logged once and the return once (docs/agent.md, "Cards")."""
    caplog.set_level(logging.DEBUG, logger="lps.agent.barcode")
    reg, scanner = Register(), Register()
    link = tmp_path / "scanner"
    link.symlink_to(scanner.port)

    async def run() -> None:
        nonlocal scanner
        switch = ScriptedSwitch()
        await switch.start()
        agent = scanner_agent(tmp_path, switch.address, reg.port, link)
        waiting = asyncio.Event()
        wait_card = agent.wait_card

        async def watched_wait_card() -> tuple[LoyaltyCard | None, str | None]:
            waiting.set()
            return await wait_card()

        agent.wait_card = watched_wait_card  # type: ignore[method-assign]
        await agent.start()
        try:
            await records.wait(f"barcode scanner on {link}")
            assert await agent.switch.ready(EVENT), agent.switch.last_error
            link.unlink()
            os.close(scanner.master)
            await records.wait("failed")
            scanner.close()
            await records.wait("still cannot be opened")
            assert await asyncio.to_thread(reg.send, fields("EARN", "250000", "INV-9")) == ACK
            await asyncio.wait_for(waiting.wait(), EVENT)
            scanner = Register()
            link.symlink_to(scanner.port)
            await records.wait("back after")
            scanner.write(f"{PAN}\r\n".encode())
            resp = await asyncio.to_thread(reg.read_frame)
            assert resp.split(b"\x1c")[:2] == [b"RESP", b"00"], resp
            sales = [(m.text(2), m.text(22)) for m in switch.received if m.mti == "0200"]
            assert sales == [(PAN, "081")]
        finally:
            await agent.stop()
            await switch.stop()

    with recording("lps.agent.barcode") as records:
        try:
            asyncio.run(run())
        finally:
            reg.close()
            scanner.close()
    said = [(r.levelname, r.getMessage()) for r in records.all if r.levelno > logging.DEBUG
            and not r.getMessage().startswith("scanned card")]
    assert [level for level, _ in said] == ["INFO", "ERROR", "INFO"], said
    assert "failed" in said[1][1] and "back after" in said[2][1], said
    assert PAN not in caplog.text


def test_a_missing_scanner_is_retried_and_the_retry_ends_with_the_agent(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A scanner not plugged in when the agent starts does not stop it: the agent tries again
    until it is stopped, and stopping cancels the try waiting for its turn."""
    caplog.set_level(logging.DEBUG, logger="lps.agent")
    reg = Register()

    async def run() -> None:
        switch = ScriptedSwitch()
        await switch.start()
        agent = scanner_agent(tmp_path, switch.address, reg.port, tmp_path / "no-scanner")
        await agent.start()
        try:
            await records.wait("cannot open barcode scanner")
            await records.wait("still cannot be opened")
        finally:
            await agent.stop()
            await switch.stop()
        task = next(t for t in agent._tasks if t.get_name() == "scanner")
        assert task.cancelled()

    with recording("lps.agent.barcode") as records:
        try:
            asyncio.run(run())
        finally:
            reg.close()
    assert "did not stop" not in caplog.text
    assert len([r for r in records.all if r.levelno >= logging.WARNING]) == 1
