"""A switch whose every answer the test writes, in the test's own event loop: for the agent's
side of a broken or hostile switch (docs/agent.md, "Switch link and the outbox").

By default it answers as the switch does: a sign-on `00`, a key exchange with a session MAC key
under the terminal's TMK when it has one, every other request `00` with the right MTI, DE11,
DE41 and, under a session key, a MAC. A test replaces the answer to one MTI with `script[mti]`,
a function of the request giving the raw bytes to write (length headers included: they can lie)
or None to stay silent; `Close(data)` writes `data` and closes the connection, `Drip(data)`
writes it a byte at a time with `Drip.pause` between. `arrived(mti)` is set when a request of
that MTI comes in.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable

from iso8583 import FrameDecoder, Message, frame, load_profile
from iso8583.loyalty import build_tlv
from terminal_agent.security import MAC_MTIS, kcv, retail_mac

Reply = Callable[[Message], bytes | None]


class Close(bytes):
    """Write these bytes, then close the connection (perhaps in the middle of a frame)."""


class Drip(bytes):
    """Write these bytes one at a time, `pause` seconds apart: a slow line."""

    pause = 0.002


def answer_mti(mti: str) -> str:
    """0200 -> 0210, 0221 -> 0230, 0401 -> 0410, 0800 -> 0810."""
    return f"{mti[:2]}{int(mti[2]) + 1}0"


def _tdes_ecb(key: bytes, data: bytes) -> bytes:
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    enc = Cipher(TripleDES(key + key[:8]), modes.ECB()).encryptor()
    return enc.update(data) + enc.finalize()


MAC_ANSWERS = frozenset(answer_mti(m) for m in MAC_MTIS)


class ScriptedSwitch:
    def __init__(self, tmk: bytes | None = None) -> None:
        self.profile = load_profile("ascii")
        self.tmk = tmk
        self.session_key: bytes | None = None
        self.script: dict[str, Reply] = {}
        self.received: list[Message] = []
        self._arrived: dict[str, asyncio.Event] = {}
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def arrived(self, mti: str) -> asyncio.Event:
        return self._arrived.setdefault(mti, asyncio.Event())

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # -- answers ----------------------------------------------------------------------------

    def answer(self, req: Message, **fields: str | bytes) -> Message:
        """The switch's own answer to `req`, with `fields` changed."""
        out: dict[int, str | bytes] = {11: req.text(11), 41: req.text(41), 39: "00"}
        if req.mti == "0800" and req.fields.get(70) == "101" and self.tmk is not None:
            self.session_key = os.urandom(16)
            out[48] = build_tlv({"MK": _tdes_ecb(self.tmk, self.session_key).hex().upper(),
                                 "MV": kcv(self.session_key)})
        elif req.mti != "0800":
            out[37] = f"000000{req.text(11)}"
        out.update({int(k[2:]): v for k, v in fields.items()})
        return Message(answer_mti(req.mti), out)

    def wire(self, msg: Message, mac: bytes | None = None) -> bytes:
        """`msg` framed; under a session key a request's answer carries its MAC (or `mac`)."""
        key = self.session_key
        if key is None or msg.mti not in MAC_ANSWERS:
            return frame(self.profile.encode(msg))
        msg.fields[msg.mac_field] = bytes(8)
        raw = self.profile.encode(msg)
        good = retail_mac(key, self.profile.mac_span(raw))
        return frame(self.profile.replace_mac(raw, good if mac is None else mac))

    # -- the connection ---------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        decoder = FrameDecoder()
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                decoder.feed(chunk)
                for payload in decoder.frames():
                    req = self.profile.decode(payload)
                    self.received.append(req)
                    self.arrived(req.mti).set()
                    script = self.script.get(req.mti)
                    data = script(req) if script else self.wire(self.answer(req))
                    if data is None:
                        continue
                    if isinstance(data, Drip):
                        for byte in data:
                            writer.write(bytes([byte]))
                            await writer.drain()
                            await asyncio.sleep(Drip.pause)
                    else:
                        writer.write(data)
                        await writer.drain()
                    if isinstance(data, Close):
                        writer.close()
                        return
