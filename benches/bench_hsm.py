"""HSM simulator: MAC generations and verifications per second, in-process versus TCP.

    .venv/bin/pytest benches/bench_hsm.py --benchmark-only

Both backends run in the same session against the same engine (a random in-memory LMK): the
in-process ``InProcessHsm`` and a ``TcpHsm`` talking to an ``HsmServer`` on a loopback port,
served by its own event loop in a thread of this process (the client and server therefore
share the interpreter, as they would not in production; the TCP figures are a lower bound).
One benchmark round is one call; pytest-benchmark's ``OPS`` column is calls per second. The
MAC is over a 160-byte message, the size of a typical LPS-87 0200 request.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hsm_sim import primitives as p
from hsm_sim.client import Hsm, InProcessHsm, TcpHsm
from hsm_sim.engine import HsmEngine
from hsm_sim.lmk import Lmk
from hsm_sim.server import HsmServer

MESSAGE = bytes(range(160))
PAN = "6280001234567897"


@pytest.fixture(scope="module")
def engine() -> HsmEngine:
    return HsmEngine(Lmk(os.urandom(24)))


@pytest.fixture(scope="module")
def tcp_address(engine: HsmEngine) -> Iterator[tuple[str, int]]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = HsmServer(engine)
    address = asyncio.run_coroutine_threadsafe(server.start("127.0.0.1", 0), loop).result(10)
    yield address
    asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture(params=["inproc", "tcp"])
def hsm(request: pytest.FixtureRequest, engine: HsmEngine) -> Iterator[Hsm]:
    if request.param == "inproc":
        client: Hsm = InProcessHsm(engine)
    else:
        client = TcpHsm(*request.getfixturevalue("tcp_address"))
    yield client
    client.close()


def _record(benchmark: Any, what: str) -> None:
    median = benchmark.stats.stats.median
    benchmark.extra_info[f"{what}_per_s"] = round(1 / median) if median else None


def test_mac_generate(benchmark: Any, hsm: Hsm) -> None:
    key = hsm.generate_key("TAK")
    mac = benchmark(hsm.generate_mac, key.key_lmk, MESSAGE)
    assert hsm.verify_mac(key.key_lmk, MESSAGE, mac)
    _record(benchmark, "mac_generations")


def test_mac_verify(benchmark: Any, hsm: Hsm) -> None:
    key = hsm.generate_key("TAK")
    mac = hsm.generate_mac(key.key_lmk, MESSAGE)
    assert benchmark(hsm.verify_mac, key.key_lmk, MESSAGE, mac) is True
    _record(benchmark, "mac_verifications")


def test_pin_verify(benchmark: Any, hsm: Hsm, engine: HsmEngine) -> None:
    tmk = hsm.generate_tmk()
    keys = hsm.generate_session_keys(tmk.key_lmk)
    c1, c2 = hsm.export_tmk_components(tmk.key_lmk)
    clear_tmk = bytes(a ^ b for a, b in zip(bytes.fromhex(c1.component),
                                            bytes.fromhex(c2.component), strict=True))
    tpk = p.tdes_decrypt_ecb(clear_tmk, bytes.fromhex(keys.pin.key_kek))
    block = p.tdes_encrypt_ecb(tpk, p.pin_block_iso0("1234", PAN))
    stored = hsm.encrypt_pin("1234", PAN)
    assert benchmark(hsm.verify_pin, keys.pin.key_lmk, block, PAN, stored) is True
    _record(benchmark, "pin_verifications")


def test_dukpt_pin_verify(benchmark: Any, hsm: Hsm) -> None:
    bdk = hsm.form_key("BDK", ["0123456789ABCDEFFEDCBA9876543210", "00" * 16])
    stored = hsm.encrypt_pin("1234", "4012345678909")
    # KSN ...EFFC00: 10 counter bits set, the most key-tree steps a valid KSN needs
    call: Callable[[], bool] = lambda: hsm.verify_pin_dukpt(  # noqa: E731
        bdk.key_lmk, bytes.fromhex("FFFF9876543210EFFC00"), bytes.fromhex("DEFC6F09F8927B71"),
        "4012345678909", stored)
    assert benchmark(call) is True
    _record(benchmark, "dukpt_pin_verifications")


def test_clear_retail_mac_primitive(benchmark: Any) -> None:
    key = p.des_odd_parity(os.urandom(16))
    benchmark(p.retail_mac, key, MESSAGE)
    _record(benchmark, "retail_macs")
