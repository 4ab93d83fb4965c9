"""The asyncio face of the same interface, for the switch's event loop.

``AsyncHsm`` has the methods of ``client.Hsm`` as coroutines. ``AsyncTcpHsm`` pipelines:
any number of coroutines may await HSM calls at once over one connection; each request
carries its own 4-digit header and its answer is matched by it, so no call waits for another
to come back before it is sent. ``AsyncInProcessHsm`` runs the engine directly (each call is
tens of microseconds of CPU, less than a thread hop would cost).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
from collections.abc import Sequence
from typing import Protocol, TypeVar, runtime_checkable

from hsm_sim import hostops as ops
from hsm_sim.client import InProcessHsm, SessionKeys, connect_hsm, parse_tcp_url
from hsm_sim.engine import GeneratedKey, KeyComponent
from hsm_sim.errors import ProtocolError
from hsm_sim.lmk import KeyType

T = TypeVar("T")
_LEN = struct.Struct(">H")
_HEADERS = 10000  # 4-digit headers: at most this many requests in flight per connection

__all__ = ["AsyncHsm", "AsyncInProcessHsm", "AsyncTcpHsm", "connect_hsm_async"]


@runtime_checkable
class AsyncHsm(Protocol):
    """``client.Hsm`` as coroutines; see there for what each method does."""

    async def diagnostics(self) -> str: ...
    async def generate_key(self, key_type: KeyType | str) -> GeneratedKey: ...
    async def generate_tmk(self) -> GeneratedKey: ...
    async def form_key(
        self, key_type: KeyType | str, components: Sequence[str]
    ) -> GeneratedKey: ...
    async def export_tmk_components(
        self, tmk_lmk: str
    ) -> tuple[KeyComponent, KeyComponent]: ...
    async def generate_session_keys(self, tmk_lmk: str) -> SessionKeys: ...
    async def generate_mac(self, key_lmk: str, data: bytes) -> bytes: ...
    async def verify_mac(self, key_lmk: str, data: bytes, mac: bytes) -> bool: ...
    async def kcv(self, key_lmk: str, key_type: KeyType | str) -> str: ...
    async def encrypt_pin(self, pin: str, pan: str) -> str: ...
    async def translate_pin_to_lmk(self, tpk_lmk: str, pin_block: bytes, pan: str) -> str: ...
    async def verify_pin(
        self, tpk_lmk: str, pin_block: bytes, pan: str, pin_lmk: str
    ) -> bool: ...
    async def verify_pin_dukpt(
        self, bdk_lmk: str, ksn: bytes, pin_block: bytes, pan: str, pin_lmk: str
    ) -> bool: ...
    async def close(self) -> None: ...


class AsyncInProcessHsm:
    """The in-process engine behind coroutines (no thread: the work is short and CPU-only)."""

    def __init__(self, hsm: InProcessHsm) -> None:
        self._hsm = hsm

    async def diagnostics(self) -> str:
        return self._hsm.diagnostics()

    async def generate_key(self, key_type: KeyType | str) -> GeneratedKey:
        return self._hsm.generate_key(key_type)

    async def generate_tmk(self) -> GeneratedKey:
        return self._hsm.generate_tmk()

    async def form_key(self, key_type: KeyType | str, components: Sequence[str]) -> GeneratedKey:
        return self._hsm.form_key(key_type, components)

    async def export_tmk_components(self, tmk_lmk: str) -> tuple[KeyComponent, KeyComponent]:
        return self._hsm.export_tmk_components(tmk_lmk)

    async def generate_session_keys(self, tmk_lmk: str) -> SessionKeys:
        return self._hsm.generate_session_keys(tmk_lmk)

    async def generate_mac(self, key_lmk: str, data: bytes) -> bytes:
        return self._hsm.generate_mac(key_lmk, data)

    async def verify_mac(self, key_lmk: str, data: bytes, mac: bytes) -> bool:
        return self._hsm.verify_mac(key_lmk, data, mac)

    def forget_working_key(self, key_lmk: str) -> bool:
        """Drop the MAC key the engine keeps ready for ``key_lmk`` (docs/hsm.md §2)."""
        return self._hsm.forget_working_key(key_lmk)

    async def kcv(self, key_lmk: str, key_type: KeyType | str) -> str:
        return self._hsm.kcv(key_lmk, key_type)

    async def encrypt_pin(self, pin: str, pan: str) -> str:
        return self._hsm.encrypt_pin(pin, pan)

    async def translate_pin_to_lmk(self, tpk_lmk: str, pin_block: bytes, pan: str) -> str:
        return self._hsm.translate_pin_to_lmk(tpk_lmk, pin_block, pan)

    async def verify_pin(self, tpk_lmk: str, pin_block: bytes, pan: str, pin_lmk: str) -> bool:
        return self._hsm.verify_pin(tpk_lmk, pin_block, pan, pin_lmk)

    async def verify_pin_dukpt(
        self, bdk_lmk: str, ksn: bytes, pin_block: bytes, pan: str, pin_lmk: str
    ) -> bool:
        return self._hsm.verify_pin_dukpt(bdk_lmk, ksn, pin_block, pan, pin_lmk)

    async def close(self) -> None:
        self._hsm.close()


class _Connection:
    """One TCP connection: a writer, and a reader task resolving futures by header.

    Once failed it keeps no exception (`broken` is a flag): the exception is raised in
    `AsyncTcpHsm.run`, whose frame holds the connection, and a reference cycle is never
    collected in a process that freezes its objects, as the switch does (docs/hsm.md,
    section 4).
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.pending: dict[bytes, asyncio.Future[bytes]] = {}
        self.broken = False
        self.reader_task = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                (length,) = _LEN.unpack(await reader.readexactly(2))
                response = await reader.readexactly(length)
                fut = self.pending.pop(response[:4], None)
                if fut is None:
                    raise ProtocolError(f"HSM answered an unknown header {response[:4]!r}")
                if not fut.done():
                    fut.set_result(response)
        except asyncio.CancelledError:
            self.fail(ConnectionError("HSM connection closed"))
            raise
        except ProtocolError as exc:
            self.fail(exc)
        except (OSError, asyncio.IncompleteReadError) as exc:
            self.fail(_lost(exc))

    def fail(self, exc: BaseException) -> None:
        self.broken = True
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(exc)
        self.pending.clear()
        self.writer.close()
        _drop_self_references(self.writer.transport)


def _lost(exc: BaseException) -> ConnectionError:
    """The error for the calls of a connection lost with `exc`, a new one: the stream keeps
    that exception and raises the same object again (`StreamReader.exception`), so its
    traceback holds frames that hold the stream, a cycle; those frames are dropped too."""
    exc.__traceback__ = None
    return ConnectionError(f"HSM: {exc!r}")


def _drop_self_references(transport: object) -> None:
    """Unset what a closed transport holds of itself: asyncio's selector transport keeps its
    read callback as a method bound to itself, a cycle that outlives the connection; its own
    `close` unsets it from Python 3.12 on (uvloop's transports keep no such attributes).
    Nothing reads through it once `close` has removed the reader. The switch does the same to
    its terminals' transports (``drop_self_references``)."""
    attrs = getattr(transport, "__dict__", None)
    if attrs is None:
        return
    for name, value in list(attrs.items()):
        if getattr(value, "__self__", None) is transport:
            attrs[name] = None


def _time_out(conn: _Connection, fut: asyncio.Future[bytes]) -> None:
    """An HSM that stops answering one call is not trusted with the others."""
    if not fut.done():
        fut.set_exception(TimeoutError("HSM call timed out"))
        conn.fail(ConnectionError("HSM connection dropped after a call timed out"))


class AsyncTcpHsm:
    """A pipelining asyncio client of ``lps-hsm serve`` (one connection, many calls in flight).

    A broken connection fails every call in flight with ``ConnectionError``; the next call
    opens a new connection. ``timeout`` bounds the connect and each call.
    """

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self._addr = (host, port)
        self._timeout = timeout
        self._conn: _Connection | None = None
        self._connecting = asyncio.Lock()
        self._next = 0

    async def _connection(self) -> _Connection:
        async with self._connecting:
            if self._conn is None or self._conn.broken:
                # Not `wait_for`: on 3.11 its frame keeps the task it wraps, whose exception
                # (a refused connect, on every call while the HSM is down) holds that frame.
                async with asyncio.timeout(self._timeout):
                    reader, writer = await asyncio.open_connection(*self._addr)
                self._conn = _Connection(reader, writer)
            return self._conn

    def _header(self, conn: _Connection) -> bytes:
        if len(conn.pending) >= _HEADERS:
            raise ProtocolError(f"more than {_HEADERS} HSM calls in flight on one connection")
        while True:
            header = f"{self._next:04d}".encode()
            self._next = (self._next + 1) % _HEADERS
            if header not in conn.pending:
                return header

    async def run(self, op: ops.Op[T]) -> T:
        """Send one host command and await its result (or its ``HsmError``)."""
        conn = await self._connection()
        header = self._header(conn)
        payload = op.payload(header)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bytes] = loop.create_future()
        conn.pending[header] = fut
        # one timer per call (cheaper than wait_for, which wraps every call in a task)
        timer = loop.call_later(self._timeout, _time_out, conn, fut)
        try:
            try:
                conn.writer.write(_LEN.pack(len(payload)) + payload)
                await conn.writer.drain()
            except OSError as exc:
                conn.fail(_lost(exc))  # this call's future too
            # a caller cancelled here cancels ``fut``; the reader then discards the late answer
            response = await fut
        finally:
            timer.cancel()
            # The future holds the exception it raised here, whose traceback holds this frame:
            # let go of it, as asyncio's own `sock_connect` does.
            del fut
        return op.result(header, response)

    async def diagnostics(self) -> str:
        return await self.run(ops.diagnostics())

    async def generate_key(self, key_type: KeyType | str) -> GeneratedKey:
        return await self.run(ops.generate_key(key_type))

    async def generate_tmk(self) -> GeneratedKey:
        return await self.run(ops.generate_key(KeyType.TMK))

    async def form_key(self, key_type: KeyType | str, components: Sequence[str]) -> GeneratedKey:
        return await self.run(ops.form_key(key_type, components))

    async def export_tmk_components(self, tmk_lmk: str) -> tuple[KeyComponent, KeyComponent]:
        return await self.run(ops.export_tmk_components(tmk_lmk))

    async def generate_session_keys(self, tmk_lmk: str) -> SessionKeys:
        mac, pin = await asyncio.gather(
            self.run(ops.export_new_key(KeyType.TAK, tmk_lmk)),
            self.run(ops.export_new_key(KeyType.TPK, tmk_lmk)),
        )
        return SessionKeys(mac, pin)

    async def generate_mac(self, key_lmk: str, data: bytes) -> bytes:
        return await self.run(ops.generate_mac(key_lmk, data))

    async def verify_mac(self, key_lmk: str, data: bytes, mac: bytes) -> bool:
        return await self.run(ops.verify_mac(key_lmk, data, mac))

    async def kcv(self, key_lmk: str, key_type: KeyType | str) -> str:
        return await self.run(ops.kcv(key_lmk, key_type))

    async def encrypt_pin(self, pin: str, pan: str) -> str:
        return await self.run(ops.encrypt_pin(pin, pan))

    async def translate_pin_to_lmk(self, tpk_lmk: str, pin_block: bytes, pan: str) -> str:
        return await self.run(ops.translate_pin_to_lmk(tpk_lmk, pin_block, pan))

    async def verify_pin(self, tpk_lmk: str, pin_block: bytes, pan: str, pin_lmk: str) -> bool:
        return await self.run(ops.verify_pin(tpk_lmk, pin_block, pan, pin_lmk))

    async def verify_pin_dukpt(
        self, bdk_lmk: str, ksn: bytes, pin_block: bytes, pan: str, pin_lmk: str
    ) -> bool:
        return await self.run(ops.verify_pin_dukpt(bdk_lmk, ksn, pin_block, pan, pin_lmk))

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await conn.reader_task
            with contextlib.suppress(Exception):
                await conn.writer.wait_closed()


def connect_hsm_async(
    url: str,
    *,
    lmk_path: str | os.PathLike[str] | None = None,
    create_lmk: bool = False,
    timeout: float = 5.0,
) -> AsyncHsm:
    """As ``client.connect_hsm``, for asyncio code. The TCP connection opens on first use."""
    if url == "inproc":
        hsm = connect_hsm(url, lmk_path=lmk_path, create_lmk=create_lmk)
        assert isinstance(hsm, InProcessHsm)
        return AsyncInProcessHsm(hsm)
    return AsyncTcpHsm(*parse_tcp_url(url), timeout)
