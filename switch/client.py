"""A small asyncio terminal client: framing, many requests in flight, replies matched by key.

Used by the demo, the end-to-end tests and the load generator; the terminal agent has its own.
"""

from __future__ import annotations

import asyncio
import contextlib

from iso8583 import FrameDecoder, Message, Profile, frame, load_profile


class TerminalClient:
    def __init__(self, profile: Profile | str, host: str, port: int) -> None:
        self.profile = load_profile(profile) if isinstance(profile, str) else profile
        self.host = host
        self.port = port
        self.pending: dict[tuple[str, str, str], asyncio.Future[Message]] = {}
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    async def connect(self) -> TerminalClient:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.reader is not None
        decoder = FrameDecoder(65535)
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                decoder.feed(data)
                for payload in decoder.frames():
                    msg = self.profile.decode(payload)
                    key = _key(msg)
                    fut = self.pending.pop(key, None)
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.closed.set()
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("connection closed"))
            self.pending.clear()

    def send_nowait(self, msg: Message) -> asyncio.Future[Message]:
        """Write a request; the future resolves with its response."""
        assert self.writer is not None
        key = _key(msg)
        fut = self.pending.get(key)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            self.pending[key] = fut
        self.writer.write(frame(self.profile.encode(msg), 65535))
        return fut

    async def send(self, msg: Message, timeout: float = 10.0) -> Message:
        return await asyncio.wait_for(self.send_nowait(msg), timeout)

    def write_raw(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError):
                await self.writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _key(msg: Message) -> tuple[str, str, str]:
    return (str(msg.fields.get(41, "")), str(msg.fields.get(11, "")), str(msg.fields.get(7, "")))
