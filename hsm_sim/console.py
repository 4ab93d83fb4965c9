"""The HSM's local console: where an operator enters and leaves the Authorised state.

A payShield's console is a port on the box itself; the simulator's is a Unix socket that only
the account running `lps-hsm serve` (the owner of the LMK file) may open: created mode 0600 and
checked against the peer's user id where the system reports it. One line in, one line out
(docs/hsm.md §6, "Authorised state"):

    A <minutes>   enter the Authorised state for 1..720 minutes -> AUTHORISED <seconds left>
    C             cancel it                                      -> NOT AUTHORISED
    S             status                                         -> either of the two

Anything else gets `ERROR <reason>`. The host port never reaches this state's entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
import struct
from pathlib import Path

from hsm_sim.authority import MAX_MINUTES, AuthorisedState
from hsm_sim.errors import HsmError
from hsm_sim.primitives import is_ascii_digits

log = logging.getLogger(__name__)

MAX_LINE = 64


class ConsoleError(HsmError):
    """The console socket cannot be created or reached, or refused a request."""


def answer(state: AuthorisedState, line: str) -> str:
    """The console's reply to one request line (sans I/O)."""
    parts = line.split()
    if parts[:1] == ["A"] and len(parts) == 2:
        if not is_ascii_digits(parts[1]) or not 1 <= int(parts[1]) <= MAX_MINUTES:
            return f"ERROR minutes must be 1 to {MAX_MINUTES}"
        state.enter(int(parts[1]))
        log.warning("authorised state entered from the console for %s minutes", parts[1])
    elif parts == ["C"]:
        state.cancel()
        log.warning("authorised state cancelled from the console")
    elif parts != ["S"]:
        return "ERROR commands: A <minutes>, C, S"
    left = state.remaining()
    return f"AUTHORISED {int(left)}" if left > 0 else "NOT AUTHORISED"


def _peer_is_owner(sock: socket.socket | None) -> bool:
    """Whether the peer runs as this process's user (or root); True where not reported."""
    peercred = getattr(socket, "SO_PEERCRED", None)
    if sock is None or peercred is None:
        return True  # the socket's mode 0600 is then the only guard
    _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, peercred,
                                                          struct.calcsize("3i")))
    return uid in (os.getuid(), 0)


def _bind(path: Path) -> socket.socket:
    """A listening Unix socket at `path`, mode 0600 from the start; a stale one is replaced."""
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise ConsoleError(f"{path} exists and is not a socket; refusing to replace it")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(path))
            except OSError:
                path.unlink()  # left by a server that did not stop cleanly
            else:
                raise ConsoleError(f"console {path} is in use by another lps-hsm")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    except OSError as exc:
        sock.close()
        raise ConsoleError(f"cannot create the console {path}: {exc.strerror}") from None
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(4)
    return sock


class Console:
    """The console socket of one running HSM server."""

    def __init__(self, state: AuthorisedState, path: str | os.PathLike[str]) -> None:
        self.state = state
        self.path = Path(path)
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._on_connect, sock=_bind(self.path))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    async def _on_connect(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        try:
            if not _peer_is_owner(writer.get_extra_info("socket")):
                log.warning("console connection refused: another user")
                writer.write(b"ERROR not the HSM's owner\n")
                await writer.drain()
                return
            while line := await reader.readline():
                if len(line) > MAX_LINE or not line.endswith(b"\n"):
                    writer.write(b"ERROR line too long\n")
                    await writer.drain()
                    return
                try:
                    text = line.decode("ascii")
                except UnicodeDecodeError:
                    text = ""
                writer.write(answer(self.state, text).encode("ascii") + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def console_request(path: str | os.PathLike[str], line: str, timeout: float = 5.0) -> str:
    """Send one request line to a running HSM's console; its reply line."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(os.fspath(path))
            sock.sendall(line.encode("ascii") + b"\n")
            with sock.makefile("rb") as replies:
                reply = replies.readline(MAX_LINE)
        except OSError as exc:
            raise ConsoleError(f"cannot reach the HSM console {path}: "
                               f"{exc.strerror or exc}") from None
    text = reply.decode("ascii", "replace").strip()
    if not text or text.startswith("ERROR"):
        raise ConsoleError(f"the HSM console refused {line!r}: {text or 'no answer'}")
    return text
