"""Sans-I/O framing of PROTOCOL.md §1: a 2-byte big-endian length, then that many bytes.

`FrameDecoder` takes bytes as they arrive and hands out whole payloads; it never touches a
socket, so the switch, the agent and the tests share it. A zero length is a keep-alive: dropped
here (and counted) so that nobody can answer one by mistake.
"""

from __future__ import annotations

from collections.abc import Iterator

from .errors import EncodeError, FramingError

MAX_FRAME = 4096


def frame(payload: bytes, max_size: int = MAX_FRAME) -> bytes:
    """The payload with its 2-byte length header."""
    size = len(payload)
    if size > max_size:
        raise EncodeError(f"frame of {size} bytes exceeds the maximum {max_size}")
    return size.to_bytes(2, "big") + payload


class FrameDecoder:
    """Feed bytes, take whole frames; raises `FramingError` on a header above `max_size`."""

    __slots__ = ("_buf", "_pos", "keepalives", "max_size")

    def __init__(self, max_size: int = MAX_FRAME) -> None:
        self.max_size = max_size
        self._buf = bytearray()
        self._pos = 0
        self.keepalives = 0

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        self._buf += data

    def frames(self) -> Iterator[bytes]:
        """Every complete frame buffered so far, in order."""
        buf = self._buf
        while True:
            pos = self._pos
            if len(buf) - pos < 2:
                break
            size = (buf[pos] << 8) | buf[pos + 1]
            if size > self.max_size:
                raise FramingError(
                    f"frame header announces {size} bytes, the maximum is {self.max_size}",
                    offset=pos,
                )
            end = pos + 2 + size
            if end > len(buf):
                break
            self._pos = end
            if size == 0:
                self.keepalives += 1
                continue
            yield bytes(buf[pos + 2:end])
        if self._pos > 65536:
            del buf[: self._pos]
            self._pos = 0

    def next_frame(self) -> bytes | None:
        """The next complete frame, or None when more bytes are needed."""
        for payload in self.frames():
            return payload
        return None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet handed out."""
        return len(self._buf) - self._pos
