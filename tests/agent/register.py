"""The cash register's end of a pty pair, written independently of terminal_agent.ecr.frames
so that the tests check the agent against the wire contract, not against itself."""

from __future__ import annotations

import contextlib
import os
import select
import termios
import time
import tty
from functools import reduce

from tests.waits import EVENT

STX, ETX, ACK, NAK, FS = b"\x02", b"\x03", b"\x06", b"\x15", b"\x1c"


def frame(payload: bytes) -> bytes:
    body = payload + ETX
    return STX + body + bytes([reduce(lambda a, b: a ^ b, body, 0)])


def fields(*parts: str) -> bytes:
    return FS.join(p.encode() for p in parts)


class Register:
    """Owns the pty master; the agent opens `port` (the slave's path) with pyserial."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        attrs = termios.tcgetattr(self.slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(self.slave, termios.TCSANOW, attrs)
        self.port = os.ttyname(self.slave)
        self._buf = b""

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def read_byte(self, timeout: float = EVENT) -> bytes:
        deadline = time.monotonic() + timeout
        while not self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("nothing from the agent")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                self._buf += os.read(self.master, 4096)
        byte, self._buf = self._buf[:1], self._buf[1:]
        return byte

    def unread(self, data: bytes) -> None:
        """Put bytes already read back in front of the line."""
        self._buf = data + self._buf

    def quiet(self, timeout: float) -> bool:
        """True when the agent sends nothing for `timeout` seconds."""
        if self._buf:
            return False
        ready, _, _ = select.select([self.master], [], [], timeout)
        return not ready

    def send(self, payload: bytes, timeout: float = EVENT) -> bytes:
        """Send one frame; return the agent's ACK or NAK."""
        self.write(frame(payload))
        return self.read_byte(timeout)

    def read_frame(self, timeout: float = EVENT, answer: bytes | None = ACK) -> bytes:
        """Read one frame from the agent, check its LRC, answer it; return the payload."""
        while (b := self.read_byte(timeout)) != STX:
            pass
        payload = b""
        while (b := self.read_byte(timeout)) != ETX:
            payload += b
        check = self.read_byte(timeout)
        assert check[0] == reduce(lambda a, c: a ^ c, payload + ETX, 0), "bad LRC from agent"
        if answer is not None:
            self.write(answer)
        return payload
