"""Reaching one switch address: TCP (with TLS when configured, docs/protocol.md §1) within
`connect_timeout_seconds`, and the failback check, a sign-on on a connection of its own
(docs/agent.md "Switch failover")."""

from __future__ import annotations

import asyncio
import ssl
import time

from iso8583 import CodecError, FrameDecoder, Message, Profile, frame

from .config import AgentConfig, split_address
from .iso import network_fields, not_an_answer

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class ConnectFailed(Exception):
    """An address could not be reached (refused, unreachable, silent, TLS refused)."""


def describe(exc: BaseException, timeout: float) -> str:
    """A short reason for a log line or the fleet status."""
    if isinstance(exc, TimeoutError):
        return f"no answer in {timeout:g} s"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def tls_context(cfg: AgentConfig, host: str) -> tuple[ssl.SSLContext | None, str | None]:
    """TLS on the same framing when `tls_ca` names the CA to trust; the certificate must name
    `tls_server_name`, or else the host of the address."""
    if not cfg.tls_ca:
        return None, None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cfg.tls_ca)
    return ctx, cfg.tls_server_name or host


async def open_switch(cfg: AgentConfig, address: str) -> Streams:
    """A connection to `address`; ConnectFailed with the reason when there is none."""
    host, port = split_address(address)
    ctx, server_name = tls_context(cfg, host)
    timeout = cfg.connect_timeout_seconds
    try:
        return await asyncio.wait_for(asyncio.open_connection(
            host, port, ssl=ctx, server_hostname=server_name), timeout)
    except (OSError, ssl.SSLError, TimeoutError) as exc:
        raise ConnectFailed(describe(exc, timeout)) from None


async def probe_sign_on(cfg: AgentConfig, profile: Profile, address: str,
                        stan: str) -> str | None:
    """Whether `address` would take this terminal: a sign-on (0800/001) answered `00` on a
    connection of its own, closed again. A switch that accepts connections but answers nothing
    (hung, SIGSTOPped) is not taken for a working one. None when it would, else why not."""
    try:
        reader, writer = await open_switch(cfg, address)
    except ConnectFailed as exc:
        return str(exc)
    timeout = cfg.request_timeout_seconds
    try:
        tpdu = bytes.fromhex(cfg.tpdu) if cfg.profile == "bcd" else None
        fields = network_fields("001", stan, cfg.terminal_id, time.time())
        writer.write(frame(profile.encode(Message("0800", dict(fields), tpdu=tpdu))))
        await writer.drain()
        answer = await asyncio.wait_for(_answer_to(profile, reader, stan), timeout)
    except TimeoutError:
        return f"no answer to a sign-on in {timeout:g} s"
    except (OSError, CodecError) as exc:
        return describe(exc, timeout)
    finally:
        writer.close()
    problem = not_an_answer("0800", answer)
    if problem is not None:
        return problem
    code = answer.text(39).strip()
    return None if code == "00" else f"sign-on answered {code}"


async def _answer_to(profile: Profile, reader: asyncio.StreamReader, stan: str) -> Message:
    """The message with DE11 `stan` read from a probe connection."""
    decoder = FrameDecoder(max_size=4096)
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            raise ConnectionError("the switch closed the connection")
        decoder.feed(chunk)
        for payload in decoder.frames():
            msg = profile.decode(payload)
            if msg.text(11, "") == stan:
                return msg
