"""A TCP path between agents and a switch that can hold the switch's replies back, as a network
that loses them would: the test knows a request reached the switch and was answered (so its
effect is durable there, docs/protocol.md §4) while the agent has not seen the answer.

Bytes pass unchanged; when the switch's side closes, the agent's side is closed too. While the
switch is down, a connection is accepted and closed at once.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from tests.waits import EVENT


def _frames(data: bytes) -> int:
    """Complete LPS-87 frames (2-byte big-endian length, docs/protocol.md §1) in `data`."""
    count, at = 0, 0
    while at + 2 <= len(data):
        size = int.from_bytes(data[at:at + 2], "big")
        if at + 2 + size > len(data):
            break
        count, at = count + 1, at + 2 + size
    return count


class HoldingPath:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Condition()
        self._holding = False
        self._held: dict[int, bytearray] = {}  # connection number -> replies held back
        self._open: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def hold_replies(self) -> None:
        with self._lock:
            self._holding = True

    def release(self) -> None:
        """Pass replies again; those held so far are dropped (lost in the network)."""
        with self._lock:
            self._holding = False
            self._held.clear()

    def wait_held(self, connections: int, timeout: float = EVENT) -> None:
        """Until `connections` connections each have at least one whole reply held back."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while sum(1 for data in self._held.values() if _frames(bytes(data))) < connections:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"replies held on {len(self._held)} connection(s), "
                                       f"wanted {connections}")
                self._lock.wait(left)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.close()

    def _accept(self) -> None:
        number = 0
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            number += 1
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), EVENT)
            except OSError:
                client.close()  # the switch is down
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, None),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, number),
                             daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, replies_of: int | None) -> None:
        """Copy src to dst until either side ends; `replies_of` marks the switch's direction."""
        try:
            while data := src.recv(65536):
                if replies_of is not None:
                    with self._lock:
                        if self._holding:
                            self._held.setdefault(replies_of, bytearray()).extend(data)
                            self._lock.notify_all()
                            continue
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()
