"""Sans-I/O ECR framing: STX payload ETX LRC, ACK/NAK, retries (docs/protocol.md §8).

No clock and no file descriptors here: bytes and the current time are passed in, events and
bytes to write come out, so every edge case is tested without a serial line.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

STX, ETX, ACK, NAK, FS = 0x02, 0x03, 0x06, 0x15, 0x1C
ACK_TIMEOUT = 1.0  # seconds the receiver has to answer ACK or NAK
MAX_RETRIES = 3  # a NAKed or unanswered frame is sent again up to 3 times
MAX_PAYLOAD = 1024  # longer than any §8 message: a runaway frame is cut and NAKed


def lrc(data: bytes) -> int:
    """XOR of every byte given (the caller passes payload + ETX)."""
    value = 0
    for byte in data:
        value ^= byte
    return value


def encode_frame(payload: bytes) -> bytes:
    """STX + payload + ETX + LRC(payload + ETX)."""
    if any(b in (STX, ETX) for b in payload):
        raise ValueError("an ECR payload cannot contain STX or ETX")
    body = payload + bytes([ETX])
    return bytes([STX]) + body + bytes([lrc(body)])


@dataclass(frozen=True)
class FrameReceived:
    payload: bytes


@dataclass(frozen=True)
class BadFrame:
    """A frame that must be NAKed; `raw` is what was received, for the log."""

    reason: str
    raw: bytes


@dataclass(frozen=True)
class AckReceived:
    pass


@dataclass(frozen=True)
class NakReceived:
    pass


@dataclass(frozen=True)
class Noise:
    """Bytes outside any frame that are not ACK/NAK: logged and dropped, never answered."""

    raw: bytes


Event = FrameReceived | BadFrame | AckReceived | NakReceived | Noise


class _State(Enum):
    IDLE = 0
    PAYLOAD = 1
    LRC = 2


class FrameReader:
    """Turns received bytes into events. Never raises on any input."""

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self._state = _State.IDLE
        self._buf = bytearray()
        self._noise = bytearray()
        self._max = max_payload

    @property
    def in_frame(self) -> bool:
        return self._state is not _State.IDLE

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        for byte in data:
            self._step(byte, events)
        if self._noise and self._state is _State.IDLE:
            events.append(Noise(bytes(self._noise)))
            self._noise.clear()
        return events

    def expire(self) -> list[Event]:
        """The line went quiet in the middle of a frame: NAK what we have."""
        if self._state is _State.IDLE:
            return []
        raw = bytes([STX]) + bytes(self._buf)
        self._reset()
        return [BadFrame("incomplete frame (line went quiet before ETX/LRC)", raw)]

    def _reset(self) -> None:
        self._state = _State.IDLE
        self._buf.clear()

    def _flush_noise(self, events: list[Event]) -> None:
        if self._noise:
            events.append(Noise(bytes(self._noise)))
            self._noise.clear()

    def _step(self, byte: int, events: list[Event]) -> None:
        if self._state is _State.IDLE:
            if byte == STX:
                self._flush_noise(events)
                self._state = _State.PAYLOAD
            elif byte == ACK:
                self._flush_noise(events)
                events.append(AckReceived())
            elif byte == NAK:
                self._flush_noise(events)
                events.append(NakReceived())
            else:
                self._noise.append(byte)
            return
        if self._state is _State.PAYLOAD:
            if byte == ETX:
                self._state = _State.LRC
            elif byte == STX:
                raw = bytes([STX]) + bytes(self._buf)
                self._buf.clear()
                events.append(BadFrame("STX inside a frame (previous frame abandoned)", raw))
            elif len(self._buf) >= self._max:
                raw = bytes([STX]) + bytes(self._buf[:32]) + b"..."
                self._reset()
                events.append(BadFrame(f"frame longer than {self._max} bytes", raw))
            else:
                self._buf.append(byte)
            return
        # _State.LRC
        payload = bytes(self._buf)
        expected = lrc(payload + bytes([ETX]))
        self._reset()
        if byte == expected:
            events.append(FrameReceived(payload))
        else:
            raw = bytes([STX]) + payload + bytes([ETX, byte])
            events.append(BadFrame(f"bad LRC 0x{byte:02X}, expected 0x{expected:02X}", raw))


@dataclass(frozen=True)
class Send:
    """Write these bytes now."""

    data: bytes


@dataclass(frozen=True)
class Delivered:
    pass


@dataclass(frozen=True)
class Failed:
    reason: str


SenderAction = Send | Delivered | Failed


class FrameSender:
    """One outgoing frame's life: sent, then ACKed, or retried up to MAX_RETRIES times."""

    def __init__(
        self,
        payload: bytes,
        now: float,
        ack_timeout: float = ACK_TIMEOUT,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        self.frame = encode_frame(payload)
        self.ack_timeout = ack_timeout
        self.max_retries = max_retries
        self.attempts = 0
        self.done = False
        self.deadline = now

    def start(self, now: float) -> SenderAction:
        return self._transmit(now)

    def _transmit(self, now: float) -> SenderAction:
        self.attempts += 1
        self.deadline = now + self.ack_timeout
        return Send(self.frame)

    def _retry(self, now: float, why: str) -> SenderAction:
        if self.attempts > self.max_retries:
            self.done = True
            return Failed(f"{why} after {self.attempts} attempts")
        return self._transmit(now)

    def on_ack(self) -> SenderAction | None:
        if self.done:
            return None
        self.done = True
        return Delivered()

    def on_nak(self, now: float) -> SenderAction | None:
        if self.done:
            return None
        return self._retry(now, "NAKed")

    def poll(self, now: float) -> SenderAction | None:
        """Call when `deadline` has passed without an answer."""
        if self.done or now < self.deadline:
            return None
        return self._retry(now, "no ACK")
