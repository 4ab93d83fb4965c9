"""PC/SC card reader bridge (pyscard): list readers, watch insert/removal, read an LPS card.

PC/SC calls block, so they run in threads; a mute card can hang SCardTransmit until it is
pulled out, so every read is bounded by a timeout on the asyncio side and reported as `mute`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from smartcard import scard

from iso8583.redact import redact

from .apdu import (
    READ_RECORD_1,
    SELECT,
    CardError,
    LoyaltyCard,
    check_read,
    check_select,
    entry_mode_from_atr,
    parse_record,
)

log = logging.getLogger("lps.agent.card")

_REMOVED = {scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_RESET_CARD,
            scard.SCARD_E_READER_UNAVAILABLE}
_UNRESPONSIVE = {scard.SCARD_W_UNRESPONSIVE_CARD, scard.SCARD_W_UNPOWERED_CARD,
                 scard.SCARD_E_TIMEOUT, scard.SCARD_E_NOT_TRANSACTED}


# GET RESPONSEs one answer may take: 16 x 256 bytes, many times any LPS record.
MAX_PARTS = 16


class PcscUnavailable(Exception):
    """No PC/SC service (pcscd not running) or no reader."""


def _err(hresult: int) -> str:
    return f"{scard.SCardGetErrorMessage(hresult)} (0x{hresult & 0xFFFFFFFF:08X})"


def _context() -> int:
    hresult, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        raise PcscUnavailable(f"PC/SC service unavailable: {_err(hresult)}")
    return int(ctx)


def list_readers() -> list[str]:
    ctx = _context()
    try:
        hresult, readers = scard.SCardListReaders(ctx, [])
        if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        if hresult != scard.SCARD_S_SUCCESS:
            raise PcscUnavailable(f"cannot list readers: {_err(hresult)}")
        return list(readers)
    finally:
        scard.SCardReleaseContext(ctx)


def _exchange(hcard: int, proto: int, apdu: bytes, step: str) -> tuple[bytes, int]:
    """One command, one answer: its data and its status word."""
    hresult, resp = scard.SCardTransmit(hcard, proto, list(apdu))
    if hresult != scard.SCARD_S_SUCCESS:
        _raise_transmit(hresult, step)
    data = bytes(resp)
    if len(data) < 2:
        raise CardError(CardError.REMOVED, f"card gave no status word during {step}")
    return data[:-2], int.from_bytes(data[-2:], "big")


def _transmit(hcard: int, proto: int, apdu: bytes, step: str) -> tuple[bytes, int]:
    """One command with T=0 chaining: a 6Cxx is resent once with Le = xx, a 61xx fetched with
    GET RESPONSE, at most MAX_PARTS times, so a card that never stops asking cannot keep the
    read going (or recursing) for ever."""
    body, sw = _exchange(hcard, proto, apdu, step)
    if sw >> 8 == 0x6C:
        body, sw = _exchange(hcard, proto, apdu[:4] + bytes([sw & 0xFF]), step)
    for _ in range(MAX_PARTS):
        if sw >> 8 != 0x61:
            return body, sw
        more, sw = _exchange(hcard, proto, bytes([0x00, 0xC0, 0x00, 0x00, sw & 0xFF]), step)
        body += more
    raise CardError(CardError.BAD_DATA,
                    f"card still had more to send after {MAX_PARTS} GET RESPONSE during {step}")


def _raise_transmit(hresult: int, step: str) -> None:
    if hresult in _REMOVED or hresult == scard.SCARD_F_COMM_ERROR or hresult == 0:
        raise CardError(CardError.REMOVED, f"card pulled out during {step}: {_err(hresult)}")
    if hresult in _UNRESPONSIVE:
        raise CardError(CardError.MUTE, f"card does not answer ({step}): {_err(hresult)}")
    raise CardError(CardError.READER, f"reader error during {step}: {_err(hresult)}")


def read_card_blocking(reader: str) -> LoyaltyCard:
    """SELECT the LPS application, READ RECORD 1, parse; raises CardError or PcscUnavailable."""
    ctx = _context()
    try:
        hresult, hcard, proto = scard.SCardConnect(
            ctx, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
        )
        if hresult in _REMOVED:
            raise CardError(CardError.REMOVED, f"no card in {reader}: {_err(hresult)}")
        if hresult in _UNRESPONSIVE:
            raise CardError(CardError.MUTE, f"card in {reader} does not answer: {_err(hresult)}")
        if hresult != scard.SCARD_S_SUCCESS:
            raise CardError(CardError.READER, f"cannot connect to {reader}: {_err(hresult)}")
        try:
            hresult, _name, _state, _proto, atr = scard.SCardStatus(hcard)
            mode = entry_mode_from_atr(bytes(atr)) if hresult == scard.SCARD_S_SUCCESS else "051"
            _body, sw = _transmit(hcard, proto, SELECT, "SELECT")
            check_select(sw)
            record, sw = _transmit(hcard, proto, READ_RECORD_1, "READ RECORD")
            check_read(sw)
            return parse_record(record, mode)
        finally:
            scard.SCardDisconnect(hcard, scard.SCARD_LEAVE_CARD)
    finally:
        scard.SCardReleaseContext(ctx)


def _in_daemon_thread(fn: Callable[[str], LoyaltyCard], arg: str) -> asyncio.Future[LoyaltyCard]:
    """Run a blocking PC/SC call in a daemon thread: a call hung on a mute card must not keep
    the executor (and so the agent's shutdown) waiting."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[LoyaltyCard] = loop.create_future()

    def settle(result: LoyaltyCard | None, exc: BaseException | None) -> None:
        if fut.done():
            return
        if exc is not None:
            fut.set_exception(exc)
        else:
            assert result is not None
            fut.set_result(result)

    def work() -> None:
        try:
            result, exc = fn(arg), None
        except BaseException as e:  # handed to the awaiting task
            result, exc = None, e
        with contextlib.suppress(RuntimeError):  # the loop may be gone by now
            loop.call_soon_threadsafe(settle, result, exc)

    threading.Thread(target=work, name="pcsc-read", daemon=True).start()
    return fut


async def read_card(reader: str, timeout: float) -> LoyaltyCard:
    """Read in a worker thread; a card that has not answered within `timeout` is mute."""
    try:
        return await asyncio.wait_for(_in_daemon_thread(read_card_blocking, reader), timeout)
    except TimeoutError:
        raise CardError(
            CardError.MUTE, f"card in {reader} did not answer in {timeout:g} s") from None


@dataclass(frozen=True)
class CardEvent:
    reader: str
    inserted: bool  # False: removed
    atr: bytes


class ReaderWatcher:
    """A thread on SCardGetStatusChange reporting insertions and removals per reader."""

    def __init__(self, on_event: Callable[[CardEvent], None], poll_ms: int = 300) -> None:
        self.on_event = on_event
        self.poll_ms = poll_ms
        self.present: dict[str, bytes] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ctx: int | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pcsc-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._ctx is not None:
            scard.SCardCancel(self._ctx)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._ctx = _context()
            except PcscUnavailable as exc:
                log.warning("%s; retrying", exc)
                self._stop.wait(2.0)
                continue
            try:
                self._watch(self._ctx)
            finally:
                scard.SCardReleaseContext(self._ctx)
                self._ctx = None

    def _watch(self, ctx: int) -> None:
        states: dict[str, int] = {}
        while not self._stop.is_set():
            hresult, readers = scard.SCardListReaders(ctx, [])
            if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
                readers = []
            elif hresult != scard.SCARD_S_SUCCESS:
                log.warning("PC/SC list readers failed: %s", _err(hresult))
                return
            for gone in set(self.present) - set(readers):
                self._report(gone, False, b"")
            if not readers:
                self._stop.wait(self.poll_ms / 1000)
                continue
            query = [(r, states.get(r, scard.SCARD_STATE_UNAWARE)) for r in readers]
            hresult, new = scard.SCardGetStatusChange(ctx, self.poll_ms, query)
            if hresult in (scard.SCARD_E_TIMEOUT, scard.SCARD_E_CANCELLED):
                continue
            if hresult != scard.SCARD_S_SUCCESS:
                log.warning("PC/SC status change failed: %s", _err(hresult))
                return
            for reader, event_state, atr in new:
                states[reader] = event_state & ~scard.SCARD_STATE_CHANGED
                present = bool(event_state & scard.SCARD_STATE_PRESENT) and not bool(
                    event_state & scard.SCARD_STATE_MUTE and not atr)
                if present and reader not in self.present:
                    self._report(reader, True, bytes(atr))
                elif not present and reader in self.present:
                    self._report(reader, False, b"")

    def _report(self, reader: str, inserted: bool, atr: bytes) -> None:
        if inserted:
            self.present[reader] = atr
        else:
            self.present.pop(reader, None)
        log.info("card %s %s", "inserted in" if inserted else "removed from", reader)
        self.on_event(CardEvent(reader, inserted, atr))


def describe_reader(reader: str, present: bool) -> str:
    """One line for `lps-agent readers`: what the card in this reader answers."""
    if not present:
        return "no card"
    try:
        card = read_card_blocking(reader)
    except CardError as exc:
        return f"card present: {exc.kind}: {exc}"
    expiry = f" expires {card.expiry}" if card.expiry else ""
    # the holder as the card stores it: a card number written there is masked like the PAN
    return (f"LPS card {card.masked}{expiry} holder {redact(card.holder)!r} "
            f"entry mode {card.entry_mode}")


def card_present(reader: str) -> bool:
    ctx = _context()
    try:
        hresult, new = scard.SCardGetStatusChange(
            ctx, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        if hresult != scard.SCARD_S_SUCCESS:
            return False
        return any(state & scard.SCARD_STATE_PRESENT for _r, state, _a in new)
    finally:
        scard.SCardReleaseContext(ctx)
