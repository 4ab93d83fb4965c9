"""The tests' free ports (tests/ports.py): below the kernel's ephemeral range, free, and a
port some socket holds is passed over."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator

import pytest

from tests import ports


def test_a_free_port_lies_below_the_ephemeral_range_and_binds() -> None:
    for _ in range(20):
        port = ports.free_port()
        assert ports.LOWEST <= port < ports.ephemeral_low()
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))


def test_a_held_port_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as held, socket.socket() as free:
        held.bind(("127.0.0.1", 0))
        free.bind(("127.0.0.1", 0))
        taken, chosen = held.getsockname()[1], free.getsockname()[1]
        free.close()  # a port nothing holds now
        offsets: Iterator[int] = iter([taken - ports.LOWEST, chosen - ports.LOWEST])
        monkeypatch.setattr(ports, "ephemeral_low", lambda: 65_536)
        monkeypatch.setattr(secrets, "randbelow", lambda n: next(offsets))
        assert ports.free_port() == chosen


def test_no_free_port_is_an_error_that_says_where_it_looked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        taken = held.getsockname()[1]
        monkeypatch.setattr(ports, "ephemeral_low", lambda: 65_536)
        monkeypatch.setattr(secrets, "randbelow", lambda n: taken - ports.LOWEST)
        with pytest.raises(OSError, match=r"^no free port in 10000-65535 after 200 tries$"):
            ports.free_port()
