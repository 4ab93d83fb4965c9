"""A TCP server on loopback for a test's scripted peer: the well-behaved servers the other
tests start cannot be told to break their protocol, so hostile peers are scripted here."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


def serve_each(handle: Callable[[socket.socket], None], backlog: int = 8) -> socket.socket:
    """A listening socket on 127.0.0.1 (a port the kernel picks) whose connections `handle`
    serves one after another in a daemon thread, until the socket is closed."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(backlog)

    def accept_each() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            handle(conn)

    threading.Thread(target=accept_each, daemon=True).start()
    return server
