"""Unix sockets at a path of any length and for the switch's user only: the admin socket.

An AF_UNIX address holds at most 107 bytes on Linux (`sun_path`), so a switch whose database
lies deep in the file system could not bind its admin socket beside it and failed at start
("AF_UNIX path too long"). The socket's file stays where docs/switch.md puts it; only the
address given to the kernel becomes the directory's `/proc/self/fd` entry when the whole path
does not fit (the kernel resolves that link to the directory itself, for bind and connect).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

#: `sun_path` is 108 bytes on Linux, one of them the terminating NUL.
MAX_ADDRESS = 107


@contextlib.contextmanager
def address_of(path: Path) -> Iterator[str]:
    """The address naming `path`, valid while the context is open."""
    if len(os.fsencode(path)) <= MAX_ADDRESS:
        yield str(path)
        return
    directory = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{directory}/{path.name}"
    finally:
        os.close(directory)


def bound(path: Path) -> socket.socket:
    """A stream socket bound at `path` (not yet listening), mode 0600 whatever the umask:
    whoever can connect can adjust points and set keys (docs/security.md), so only the
    switch's own user (and root) may. Nothing connects before `listen`, so the mode is set
    before anyone can."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with address_of(path) as address:
            sock.bind(address)
        os.chmod(path, 0o600)
    except BaseException:
        sock.close()
        raise
    return sock


def connect(sock: socket.socket, path: Path) -> None:
    """Connect `sock` to the socket at `path`."""
    with address_of(path) as address:
        sock.connect(address)
