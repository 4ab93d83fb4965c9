"""Fixtures for the HSM simulator tests: a real LMK file, real engines, a real TCP server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from hsm_sim.authority import MAX_MINUTES
from hsm_sim.client import Hsm, InProcessHsm, TcpHsm
from hsm_sim.engine import HsmEngine
from hsm_sim.lmk import Lmk, create_lmk_file
from hsm_sim.server import HsmServer
from tests.waits import EVENT

T = TypeVar("T")

# A fixed LMK, so that tests that depend on particular wrapped bytes are deterministic.
FIXED_LMK = Lmk(bytes.fromhex("0123456789ABCDEFFEDCBA987654321089ABCDEF01234567"))


@pytest.fixture
def lmk_path(tmp_path: Path) -> Path:
    path = tmp_path / "lmk.json"
    create_lmk_file(path)
    return path


@pytest.fixture(scope="session")
def engine() -> HsmEngine:
    return HsmEngine(FIXED_LMK)


class ServerThread:
    """An HsmServer on a free loopback port, running its own event loop in a thread.

    Not authorised unless `authorised`: then in the Authorised state for the longest time the
    console grants, as after a key ceremony's `lps-hsm authorise` (docs/hsm.md §6).
    """

    def __init__(self, engine: HsmEngine, authorised: bool = False) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = HsmServer(engine)
        if authorised:
            self.server.state.enter(MAX_MINUTES)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self.server.start("127.0.0.1", 0), self.loop)
        self.host, self.port = fut.result(timeout=EVENT)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=EVENT)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(timeout=EVENT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=EVENT)
        self.loop.close()


@pytest.fixture(scope="session")
def server(engine: HsmEngine) -> Iterator[ServerThread]:
    """The shared server of the interface tests, authorised: they split keys with NE."""
    srv = ServerThread(engine, authorised=True)
    yield srv
    srv.stop()


@pytest.fixture(params=["inproc", "tcp"])
def hsm(request: pytest.FixtureRequest, engine: HsmEngine) -> Iterator[Hsm]:
    """The same Hsm interface, in-process and over a real TCP socket."""
    if request.param == "inproc":
        client: Hsm = InProcessHsm(engine)
    else:
        srv: ServerThread = request.getfixturevalue("server")
        client = TcpHsm(srv.host, srv.port, timeout=EVENT)
    yield client
    client.close()
