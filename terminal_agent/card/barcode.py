"""A serial barcode scanner as a card source: each line of digits is a card number (DE22 081)."""

from __future__ import annotations

import asyncio
import logging

import serial

from .. import is_ascii_digits
from .apdu import BARCODE, CardError, LoyaltyCard, mask_pan, valid_pan

log = logging.getLogger("lps.agent.barcode")
MAX_LINE = 64


def parse_scan(line: bytes) -> LoyaltyCard:
    """One scanned line (CR/LF stripped) -> card; CardError(BAD_DATA) for anything else."""
    text = line.strip(b"\r\n\t ").decode("ascii", "replace")
    if not is_ascii_digits(text):
        raise CardError(CardError.BAD_DATA, "barcode is not a card number (digits only)")
    if not valid_pan(text):
        raise CardError(CardError.BAD_DATA,
                        f"barcode {mask_pan(text)} is not a valid card number")
    return LoyaltyCard(text, None, "", BARCODE)


class BarcodeScanner:
    """Puts a LoyaltyCard or a CardError on `scans` for every line read."""

    def __init__(self, port: str, baud: int = 9600) -> None:
        self.port = port
        self.baud = baud
        self.scans: asyncio.Queue[LoyaltyCard | CardError] = asyncio.Queue()
        self._serial: serial.Serial | None = None
        self._buf = b""
        self._loop: asyncio.AbstractEventLoop | None = None
        self.lost = asyncio.Event()  # set when the line fails and is closed

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._serial = serial.serial_for_url(self.port, baudrate=self.baud, timeout=0)
        self._loop.add_reader(self._serial.fileno(), self._on_readable)
        log.info("barcode scanner on %s", self.port)

    def close(self) -> None:
        if self._serial is not None and self._loop is not None:
            self._loop.remove_reader(self._serial.fileno())
            self._serial.close()
            self._serial = None

    def _on_readable(self) -> None:
        assert self._serial is not None
        try:
            self._buf += self._serial.read(4096)
        except (serial.SerialException, OSError) as exc:
            # a line that hangs up (a scanner unplugged) stays readable with an error: reading
            # it again would spin the loop, so it is closed (docs/agent.md, "Cards")
            log.error("barcode scanner on %s failed: %s; closing it", self.port, exc)
            self.close()
            self.lost.set()
            return
        while True:
            cut = min((i for i in (self._buf.find(b"\r"), self._buf.find(b"\n")) if i >= 0),
                      default=-1)
            if cut < 0:
                if len(self._buf) > MAX_LINE:
                    log.warning("barcode line too long, dropped")
                    self._buf = b""
                return
            line, self._buf = self._buf[:cut], self._buf[cut + 1 :]
            if not line.strip():
                continue
            try:
                card = parse_scan(line)
            except CardError as exc:
                log.warning("scan rejected: %s", exc)
                self.scans.put_nowait(exc)
                continue
            log.info("scanned card %s", card.masked)
            self.scans.put_nowait(card)
