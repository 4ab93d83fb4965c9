"""A bare framed echo server: the same framing and event loop as the switch, no work at all.

Its throughput is the ceiling of the machine for this protocol; switch/echo is the figure that
holds on a noisy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from iso8583 import FrameDecoder, FramingError, frame
from switch.server import install_event_loop


class Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.decoder = FrameDecoder()

    def data_received(self, data: bytes) -> None:
        self.decoder.feed(data)
        try:
            out = [frame(p) for p in self.decoder.frames()]
        except FramingError:
            self.transport.close()
            return
        if out:
            self.transport.write(b"".join(out))


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, host, port, reuse_address=True, backlog=2048)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = p.parse_args()
    install_event_loop(args.loop == "uvloop")
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
