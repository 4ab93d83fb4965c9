"""A test SMSC on smpp34's SMPP 3.4 server (Rust engine, PyPI `smpp34`), in a thread.

It speaks real SMPP over loopback TCP (bind_transceiver, submit_sm/_resp, deliver_sm/_resp,
enquire_link, unbind); this module only decides the SMSC's answers: accept, refuse with a
command_status, or hold a submit_sm unanswered (to kill the sender between submit and answer),
and it sends delivery receipts and customers' replies (deliver_sm) back to the bound ESME.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import smpp34

from tests.waits import EVENT, START

#: The receipted_message_id TLV's tag. smpp34 sets its TLV_* names on the package when it is
#: imported; its stubs declare them on the private module `smpp34._smpp34` alone.
RECEIPTED_MESSAGE_ID: int = smpp34.TLV_RECEIPTED_MESSAGE_ID  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Submitted:
    source_addr: str
    destination_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    data_coding: int
    esm_class: int
    registered_delivery: int
    short_message: bytes
    message_id: str | None

    def text(self) -> str:
        body = self.short_message
        if self.esm_class & 0x40:
            body = body[1 + body[0]:]
        return body.decode("utf-16-be" if self.data_coding == 8 else "ascii")

    def udh(self) -> bytes:
        return self.short_message[:1 + self.short_message[0]] if self.esm_class & 0x40 else b""


@dataclass
class TestSmsc:
    host: str = "127.0.0.1"
    port: int = 0
    #: The answer to a submit_sm: "accept", "hold" (none until released) or a command_status;
    #: or a function of the submitted PDU that returns one of those.
    answer: str | int | Callable[[Submitted], str | int] = "accept"
    receipts: str | None = "DELIVRD"   # receipt stat sent after each accepted submit_sm
    submitted: list[Submitted] = field(default_factory=list)
    binds: int = 0
    _held: list[Any] = field(default_factory=list)
    _sessions: dict[str, Any] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = None
    _server: Any = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _count: int = 0

    __test__ = False  # not a pytest class

    def start(self) -> TestSmsc:
        ready = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            try:
                self._server = smpp34.Server(self.host, self.port, system_id="TESTSMSC")
                await self._server.start()
            except BaseException as exc:  # reported to start()
                failure.append(exc)
                ready.set()
                return
            ready.set()
            while True:
                event = await self._server.next()
                await self._handle(event)

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                self._loop.run_until_complete(main())

        self._thread = threading.Thread(target=run, name="test-smsc", daemon=True)
        self._thread.start()
        if not ready.wait(START) or failure:
            raise RuntimeError(f"test SMSC did not start: {failure}")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def shutdown() -> None:
            await self._server.stop()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(EVENT)
        if self._thread is not None:
            self._thread.join(EVENT)

    async def _handle(self, event: Any) -> None:
        if isinstance(event, smpp34.Esme):
            with self._lock:
                self.binds += 1
                self._sessions[event.session_id] = event
        elif isinstance(event, smpp34.Unbound):
            with self._lock:
                self._sessions.pop(event.session_id, None)
        elif isinstance(event, smpp34.SubmitSmEvent):
            await self._submit(event)

    async def _submit(self, event: Any) -> None:
        record = Submitted(event.source_addr, event.destination_addr, event.dest_addr_ton,
                           event.dest_addr_npi, event.data_coding, event.esm_class,
                           event.registered_delivery, bytes(event.short_message), None)
        answer = self.answer(record) if callable(self.answer) else self.answer
        message_id = None
        if answer == "accept":
            with self._lock:
                self._count += 1
                message_id = f"smsc{self._count:06d}"
            record = dataclasses.replace(record, message_id=message_id)
        with self._lock:
            self.submitted.append(record)
        if answer == "hold":
            with self._lock:
                self._held.append(event)
            return
        if message_id is None:
            event.reject(int(answer))
            return
        event.accept(message_id)
        if self.receipts and event.registered_delivery:
            esme = self._sessions.get(event.session_id)
            if esme is not None:
                text = (f"id:{message_id} sub:001 dlvrd:001 submit date:2611230930 done "
                        f"date:2611230931 stat:{self.receipts} err:000 text:").encode()
                with contextlib.suppress(smpp34.SmppError):   # the ESME unbound meanwhile
                    await esme.deliver_sm(
                        event.source_addr, text, source_addr=event.destination_addr,
                        source_addr_ton=1, source_addr_npi=1, esm_class=0x04,
                        tlvs=[smpp34.Tlv(RECEIPTED_MESSAGE_ID,
                                         message_id.encode() + b"\0")])

    def reply(self, source: str, text: str, destination: str = "LPS") -> Any:
        """A customer's SMS to us (deliver_sm, mobile originated, UCS-2); returns at once (the
        deliver_sm_resp comes when the sender reads), with a future of the send."""

        async def send() -> None:
            for esme in list(self._sessions.values()):
                await esme.deliver_sm(destination, text.encode("utf-16-be"), source_addr=source,
                                      source_addr_ton=1, source_addr_npi=1, data_coding=8)

        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(send(), self._loop)

    @property
    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def sessions(self) -> int:
        with self._lock:
            return len(self._sessions)

    def texts(self) -> list[str]:
        with self._lock:
            return [s.text() for s in self.submitted]
