"""The asyncio TCP server: 2-byte big-endian length frames around ``hostcmd.handle``.

Each connection is served by its own task and only reads its own frames; a malformed frame
gets an error code, a broken connection is closed, and nothing one client sends can stop the
server or disturb another connection. Requests on one connection are answered in order.

The server holds the HSM's Authorised state (off at start); only its local console, when one
is configured, can enter it (hsm_sim/console.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import struct

from hsm_sim.authority import AuthorisedState
from hsm_sim.console import Console
from hsm_sim.engine import HsmEngine
from hsm_sim.hostcmd import handle
from hsm_sim.primitives import is_ascii_digits

log = logging.getLogger(__name__)

_LEN = struct.Struct(">H")


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:1500`` for IPv6) as a (host, port) pair."""
    host, sep, port = listen.rpartition(":")
    if not sep or not is_ascii_digits(port) or not 0 <= int(port) <= 65535:
        raise ValueError(f"listen address must be host:port, got {listen!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


class HsmServer:
    """Serves one HsmEngine on a TCP address until ``close``."""

    def __init__(self, engine: HsmEngine, state: AuthorisedState | None = None) -> None:
        self._engine = engine
        self.state = state if state is not None else AuthorisedState()
        self._server: asyncio.Server | None = None
        self._console: Console | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 1500) -> tuple[str, int]:
        """Bind and start accepting; returns the bound address (port 0 picks a free port)."""
        self._server = await asyncio.start_server(self._on_connect, host, port)
        sockname = self._server.sockets[0].getsockname()
        return str(sockname[0]), int(sockname[1])

    async def start_console(self, path: str | os.PathLike[str]) -> None:
        """Open the local console (a Unix socket only this user may use) at `path`."""
        console = Console(self.state, path)
        await console.start()
        self._console = console

    async def serve_forever(self) -> None:
        if self._server is None:
            raise RuntimeError("start() the server first")
        async with self._server:
            await self._server.serve_forever()

    async def close(self) -> None:
        if self._console is not None:
            await self._console.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        peer = writer.get_extra_info("peername")
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away mid-frame: nothing to answer
        except Exception:
            log.exception("connection %s failed", peer)
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                prefix = await reader.readexactly(2)
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    log.info("connection closed inside a length prefix")
                return
            (length,) = _LEN.unpack(prefix)
            if length == 0:
                continue  # keep-alive: never answered
            payload = await reader.readexactly(length)
            response = handle(self._engine, payload, self.state)
            writer.write(_LEN.pack(len(response)) + response)
            await writer.drain()


async def serve(engine: HsmEngine, listen: str,
                console: str | os.PathLike[str] | None = None) -> None:
    """Run a server on ``listen`` until cancelled (the ``lps-hsm serve`` entry)."""
    host, port = parse_listen(listen)
    server = HsmServer(engine)
    bound = await server.start(host, port)
    if console is not None:
        try:
            await server.start_console(console)
        except BaseException:
            await server.close()
            raise
    task = asyncio.current_task()
    if task is not None:  # SIGTERM stops the server cleanly, like Ctrl-C
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    log.info("lps-hsm listening on %s:%d, LMK check value %s", *bound, engine.lmk_check_value())
    print(f"lps-hsm listening on {bound[0]}:{bound[1]}", flush=True)
    if console is not None:
        print(f"lps-hsm console on {os.fspath(console)} (not authorised)", flush=True)
    try:
        await server.serve_forever()
    except asyncio.CancelledError:
        log.info("lps-hsm stopping")
    finally:
        await server.close()
