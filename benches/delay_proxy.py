"""`python -m benches.delay_proxy --listen PORT --to HOST:PORT --delay-ms D`: a TCP relay that
holds every chunk D ms in each direction, so a database on this machine answers as one across a
network would (a round trip D x 2 longer, plus the relay's own hops). For measuring what a
round trip to the database costs the switch (benches/README.md); this machine's kernel has no
`netem`.

Threads, not an event loop: a loop's timers wake in whole milliseconds, `time.sleep` to the
microsecond. Each direction of a connection is a reader thread queueing (due time, bytes) and
a writer thread sending them in order, so the relay never reorders a stream and a chunk read
meanwhile is not held behind one waiting. It prints `listening PORT` once it accepts.
"""

from __future__ import annotations

import argparse
import contextlib
import queue
import socket
import threading
import time


def _direction(source: socket.socket, sink: socket.socket, delay: float) -> None:
    """Copy `source` to `sink`, each chunk sent `delay` seconds after it was read."""
    chunks: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()

    def send() -> None:
        while True:
            due, data = chunks.get()
            if not data:
                break
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                sink.sendall(data)
            except OSError:
                break
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    while True:
        try:
            data = source.recv(65536)
        except OSError:
            data = b""
        chunks.put((time.monotonic() + delay, data))
        if not data:
            break
    sender.join()


def _relay(client: socket.socket, target: tuple[str, int], delay: float) -> None:
    try:
        server = socket.create_connection(target)
    except OSError:
        client.close()
        return
    for s in (client, server):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    back = threading.Thread(target=_direction, args=(server, client, delay), daemon=True)
    back.start()
    _direction(client, server, delay)
    back.join()
    client.close()
    server.close()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benches.delay_proxy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", type=int, required=True, help="port on 127.0.0.1")
    p.add_argument("--to", required=True, help="HOST:PORT to relay to")
    p.add_argument("--delay-ms", type=float, required=True, help="held in each direction")
    args = p.parse_args()
    host, _, port = args.to.rpartition(":")
    target, delay = (host, int(port)), args.delay_ms / 1000
    listener = socket.create_server(("127.0.0.1", args.listen))
    print(f"listening {args.listen}", flush=True)
    try:
        while True:
            client, _ = listener.accept()
            threading.Thread(target=_relay, args=(client, target, delay), daemon=True).start()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
