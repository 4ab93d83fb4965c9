"""The ECR serial transport: the sans-I/O framing of `frames` on a pyserial port, in asyncio."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import serial

from iso8583.redact import redact

from .frames import (
    ACK,
    ACK_TIMEOUT,
    NAK,
    AckReceived,
    BadFrame,
    Delivered,
    Failed,
    FrameReader,
    FrameReceived,
    FrameSender,
    NakReceived,
    Noise,
    Send,
    SenderAction,
)

log = logging.getLogger("lps.agent.ecr")

# Decides whether a well-framed payload is a request we understand: None to ACK it, or the
# reason to NAK it.
Validator = Callable[[bytes], str | None]


#: Requests that may wait while one is served (docs/agent.md, "Register link (§8)").
MAX_WAITING = 8


class EcrLink:
    """ACKs good frames into `incoming`, NAKs broken or unknown ones, sends with retries."""

    def __init__(
        self,
        port: str,
        baud: int = 9600,
        validate: Validator | None = None,
        ack_timeout: float = ACK_TIMEOUT,
    ) -> None:
        self.port_name = port
        self.baud = baud
        self.validate = validate or (lambda _p: None)
        self.ack_timeout = ack_timeout
        self.incoming: asyncio.Queue[bytes] = asyncio.Queue()
        self.in_progress: bytes | None = None  # payload being served: a resend is not redone
        self._queued: list[bytes] = []  # payloads in `incoming`: a resend of one is not queued
        self.naks_sent = 0
        self._serial: serial.Serial | None = None
        self._reader = FrameReader()
        self._sender: FrameSender | None = None
        self._send_done: asyncio.Future[SenderAction] | None = None
        self._send_lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.lost = asyncio.Event()  # set when the line fails; the owner reopens it

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        ser = serial.serial_for_url(self.port_name, baudrate=self.baud, bytesize=8,
                                    parity="N", stopbits=1, timeout=0, exclusive=False)
        self._serial = ser
        self.lost.clear()
        self._loop.add_reader(ser.fileno(), self._on_readable)
        log.info("ECR link open on %s at %d 8N1", self.port_name, self.baud)

    def close(self) -> None:
        if self._serial is not None and self._loop is not None:
            self._loop.remove_reader(self._serial.fileno())
            self._serial.close()
            self._serial = None

    def _fail(self, why: str) -> None:
        log.error("ECR line %s failed: %s; closing it", self.port_name, why)
        self.close()
        self.lost.set()

    def _write(self, data: bytes) -> None:
        if self._serial is None:
            return
        try:
            self._serial.write(data)
        except (serial.SerialException, OSError) as exc:
            self._fail(f"write error: {exc}")

    def _on_readable(self) -> None:
        assert self._serial is not None
        try:
            data = self._serial.read(4096)
        except (serial.SerialException, OSError) as exc:
            # a readable line that gives no data or an error is gone (unplugged, hung up):
            # closing it stops the event loop from spinning on it
            self._fail(f"read error: {exc}")
            return
        if not data:
            return
        for event in self._reader.feed(data):
            self._handle(event)
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if self._reader.in_frame and self._loop is not None:
            self._expiry = self._loop.call_later(self.ack_timeout, self._expire)

    def _expire(self) -> None:
        self._expiry = None
        for event in self._reader.expire():
            self._handle(event)

    def _handle(self, event: object) -> None:
        if isinstance(event, FrameReceived):
            reason = self.validate(event.payload)
            if reason is not None:
                self._nak(reason, event.payload)
                return
            if event.payload == self.in_progress or event.payload in self._queued:
                self._write(bytes([ACK]))
                log.info("ECR resent a request already taken; ACKed, not redone")
                return
            if len(self._queued) >= MAX_WAITING:
                # one register, one sale at a time: more waiting than this is a register
                # that does not wait for its answers; it is told so (NAK), nothing queued
                self._nak(f"{MAX_WAITING} requests wait their turn already", event.payload)
                return
            self._write(bytes([ACK]))
            self._queued.append(event.payload)
            self.incoming.put_nowait(event.payload)
        elif isinstance(event, BadFrame):
            self._nak(event.reason, event.raw)
        elif isinstance(event, AckReceived):
            if self._sender is not None:
                self._settle(self._sender.on_ack())
        elif isinstance(event, NakReceived):
            if self._sender is not None and self._loop is not None:
                self._settle(self._sender.on_nak(self._loop.time()))
        elif isinstance(event, Noise):
            # masked (docs/protocol.md §6): a barcode scanner plugged into the register's port
            # sends card numbers as noise, a cashier may scan one into the amount
            log.warning("ECR noise outside a frame dropped: %s", redact(repr(event.raw[:32])))

    def _nak(self, reason: str, raw: bytes) -> None:
        self.naks_sent += 1
        log.warning("ECR frame NAKed: %s", redact(f"{reason}: {raw[:64]!r}"))
        self._write(bytes([NAK]))

    def _settle(self, action: SenderAction | None) -> None:
        if action is None or self._loop is None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if isinstance(action, Send):
            self._write(action.data)
            assert self._sender is not None
            delay = max(0.0, self._sender.deadline - self._loop.time())
            self._timer = self._loop.call_later(delay, self._on_timer)
        elif (isinstance(action, Delivered | Failed) and self._send_done is not None
              and not self._send_done.done()):
            self._send_done.set_result(action)

    def _on_timer(self) -> None:
        self._timer = None
        if self._sender is not None and self._loop is not None:
            self._settle(self._sender.poll(self._loop.time()))

    async def take(self) -> bytes:
        """The next request to serve; it is `in_progress` until its answer is sent."""
        payload = await self.incoming.get()
        self._queued.remove(payload)
        self.in_progress = payload
        return payload

    async def send(self, payload: bytes) -> bool:
        """Send one frame; True once ACKed, False after the retries are spent.

        Sending the answer ends the request being served: the same payload arriving from now
        on is a new request (an identical sale right after), not a resend.
        """
        self.in_progress = None
        async with self._send_lock:
            loop = asyncio.get_running_loop()
            self._send_done = loop.create_future()
            self._sender = FrameSender(payload, loop.time(), ack_timeout=self.ack_timeout)
            self._settle(self._sender.start(loop.time()))
            result = await self._send_done
            self._sender = None
            if isinstance(result, Failed):
                log.error("ECR answer not delivered: %s", result.reason)
                return False
            return True
