"""Ports for the servers the tests start: free now, and kept from the suite's other sockets.

A test asks for a free port, closes its probe and hands the number to a server that binds it
a moment later, often a process still starting. A port the kernel chose (a bind to port 0)
comes from its ephemeral range (`net.ipv4.ip_local_port_range`), from which it hands ports
to every other socket of the suite meanwhile: servers bound to port 0, and on a busy
machine the connections of the other test processes. So the ports here come from below that
range, which the kernel never hands out by itself: the sockets there are servers given their
port, ones chosen here and the machine's own services, and a port one holds is passed over.
Chosen at random by the operating system's generator (the `random` module's is seeded alike
in every test process by pytest-randomly) and probed.
"""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
#: The lowest port chosen: above the ports services are configured on (5432, 8583, 1883...).
LOWEST = 10_000
TRIES = 200


def ephemeral_low() -> int:
    """Where the kernel's ephemeral range starts (32768 unless the machine sets it)."""
    try:
        return int(PORT_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing holds at the moment of asking, below the ephemeral
    range; a port below it that a server of the machine holds is passed over."""
    high = ephemeral_low()
    if high - LOWEST < 1_000:  # a machine whose ephemeral range starts low: the kernel's
        with socket.socket() as probe:
            probe.bind((host, 0))
            return int(probe.getsockname()[1])
    for _ in range(TRIES):
        port = LOWEST + secrets.randbelow(high - LOWEST)
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port in {LOWEST}-{high - 1} after {TRIES} tries")
