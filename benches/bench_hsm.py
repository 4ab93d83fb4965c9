"""HSM simulator: MAC generations and verifications per second, in-process versus TCP.

    .venv/bin/pytest benches/bench_hsm.py --benchmark-only

Both backends run in the same session: the in-process ``InProcessHsm`` (engine in this
process, random in-memory LMK) and a ``TcpHsm`` talking over loopback to ``lps-hsm serve``
started as a subprocess, as deployed. One benchmark round is one call (pytest-benchmark's
``OPS`` column is calls per second), except ``test_mac_generate_async_pipelined``: 100
concurrent calls over one ``AsyncTcpHsm`` connection per round (its extra_info has the
per-call rate). The MAC is over 160 bytes, the size of a typical LPS-87 0200 request.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hsm_sim import primitives as p
from hsm_sim.client import Hsm, InProcessHsm, TcpHsm
from hsm_sim.engine import HsmEngine
from hsm_sim.lmk import Lmk, create_lmk_file

MESSAGE = bytes(range(160))
PAN = "6280001234567897"


@pytest.fixture(scope="module")
def engine() -> HsmEngine:
    return HsmEngine(Lmk(os.urandom(24)))


@pytest.fixture(scope="module")
def tcp_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """``lps-hsm serve`` in its own process, as deployed (its own interpreter and GIL)."""
    lmk = tmp_path_factory.mktemp("hsm") / "lmk.json"
    create_lmk_file(lmk)
    console = lmk.with_name("console")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hsm_sim.cli", "serve", "--lmk", str(lmk),
         "--listen", "127.0.0.1:0", "--console", str(console)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        match = re.search(r"listening on ([\d.]+):(\d+)", proc.stdout.readline())
        assert match, "lps-hsm serve did not start"
        assert "console on" in proc.stdout.readline()
        # export_tmk_components (NE) needs the Authorised state (docs/hsm.md §6)
        subprocess.run([sys.executable, "-m", "hsm_sim.cli", "authorise", "--console",
                        str(console), "--minutes", "60"], check=True, capture_output=True)
        yield match.group(1), int(match.group(2))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


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


def test_pin_verify(benchmark: Any, hsm: Hsm) -> None:
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


def test_mac_generate_async_pipelined(benchmark: Any, tcp_address: tuple[str, int]) -> None:
    """100 concurrent generate_mac calls over one AsyncTcpHsm connection per round."""
    from hsm_sim.aclient import AsyncTcpHsm

    loop = asyncio.new_event_loop()
    hsm = AsyncTcpHsm(*tcp_address)
    key = loop.run_until_complete(hsm.generate_key("TAK"))

    async def batch() -> list[bytes]:
        return await asyncio.gather(*(hsm.generate_mac(key.key_lmk, MESSAGE) for _ in range(100)))

    macs = benchmark(lambda: loop.run_until_complete(batch()))
    assert len(set(macs)) == 1
    loop.run_until_complete(hsm.close())
    loop.close()
    median = benchmark.stats.stats.median
    benchmark.extra_info["mac_generations_per_s"] = round(100 / median) if median else None
