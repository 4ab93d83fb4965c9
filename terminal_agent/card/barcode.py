"""A serial barcode scanner as a card source: each line of digits is a card number (DE22 081)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import serial

from .. import is_ascii_digits
from .apdu import BARCODE, CardError, LoyaltyCard, mask_pan, valid_pan

log = logging.getLogger("lps.agent.barcode")
MAX_LINE = 64
#: Scans kept while no request waits: the agent drops them all when a request starts, so only
#: a bound matters (docs/agent.md, "Cards").
MAX_SCANS = 8
#: Reopening a scanner that failed or is missing (docs/agent.md, "Cards"): the first try this
#: long after the failure, each next one twice as long after, at most RETRY_MAX apart.
RETRY_FIRST = 0.5
RETRY_MAX = 5.0


def retry_delays(first: float = RETRY_FIRST, cap: float = RETRY_MAX) -> Iterator[float]:
    """first, 2 first, 4 first, ... then cap for ever: a replugged scanner is found within cap
    seconds, a missing one costs one failed open every cap seconds."""
    delay = first
    while True:
        yield min(delay, cap)
        delay = min(delay * 2, cap)


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
        self.scans: asyncio.Queue[LoyaltyCard | CardError] = asyncio.Queue(MAX_SCANS)
        self._serial: serial.Serial | None = None
        self._buf = b""
        self._loop: asyncio.AbstractEventLoop | None = None
        self.lost = asyncio.Event()  # set when the line fails and is closed

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        ser = serial.serial_for_url(self.port, baudrate=self.baud, timeout=0)
        try:
            self._loop.add_reader(ser.fileno(), self._on_readable)
        except BaseException:
            ser.close()  # not a line the loop can watch: not left open by each try
            raise
        self._serial = ser
        self._buf = b""  # half a line from before an outage is no part of the next scan
        self.lost.clear()

    async def keep_open(self, first: float = RETRY_FIRST, cap: float = RETRY_MAX) -> None:
        """Open the scanner, and reopen it whenever it fails or is missing (unplugged, not yet
        plugged in) with `retry_delays(first, cap)` between tries, until cancelled: a store
        that replugs its scanner has it back without restarting the agent.

        An outage is logged once when it starts and once when it ends; the tries in between
        only at DEBUG. The delays start again from `first` once the line has stayed up `cap`
        seconds: a line that fails again as soon as it is open is not reopened more often.
        """
        loop = asyncio.get_running_loop()
        delays = retry_delays(first, cap)
        down_since: float | None = None
        while True:
            try:
                await self.open()
            except (OSError, ValueError) as exc:  # serial.SerialException is an OSError
                if down_since is None:
                    down_since = loop.time()
                    log.error("cannot open barcode scanner on %s: %s; retrying", self.port, exc)
                else:
                    log.debug("barcode scanner on %s still cannot be opened: %s", self.port, exc)
                await asyncio.sleep(next(delays))
                continue
            if down_since is None:
                log.info("barcode scanner on %s", self.port)
            else:
                log.info("barcode scanner on %s back after %.1f s", self.port,
                         loop.time() - down_since)
            opened = loop.time()
            await self.lost.wait()  # the failure is logged where it is seen (_on_readable)
            down_since = loop.time()
            if down_since - opened >= cap:
                delays = retry_delays(first, cap)
            await asyncio.sleep(next(delays))

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
            log.error("barcode scanner on %s failed: %s; closing it until it can be opened "
                      "again", self.port, exc)
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
                self._keep(exc)
                continue
            log.info("scanned card %s", card.masked)
            self._keep(card)

    def _keep(self, scan: LoyaltyCard | CardError) -> None:
        """Queue `scan`, dropping the oldest when MAX_SCANS wait already."""
        if self.scans.full():
            self.scans.get_nowait()
        self.scans.put_nowait(scan)
