"""The asyncio interface: same results as the blocking one, pipelining, failures."""

from __future__ import annotations

import asyncio
import gc
import struct
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import uvloop

from hsm_sim import primitives as p
from hsm_sim.aclient import AsyncHsm, AsyncInProcessHsm, AsyncTcpHsm, connect_hsm_async
from hsm_sim.client import InProcessHsm
from hsm_sim.engine import HsmEngine
from hsm_sim.errors import InputError, KeyParityError, PinBlockError, ProtocolError
from hsm_sim.lmk import KeyType
from tests.hsm.conftest import FIXED_LMK, ServerThread
from tests.waits import EVENT

if TYPE_CHECKING:
    from hsm_sim.hostops import Op

H = bytes.fromhex
CLEAR_TAK = H("0123456789ABCDEFFEDCBA9876543210")
TAK = FIXED_LMK.wrap(CLEAR_TAK, KeyType.TAK)
PAN = "6280001234567897"
NC_FIELDS = b"0123456789ABCDEF0007-L001"


def make(kind: str, engine: HsmEngine, server: ServerThread | None) -> AsyncHsm:
    if kind == "inproc":
        return AsyncInProcessHsm(InProcessHsm(engine))
    assert server is not None
    return AsyncTcpHsm(server.host, server.port, timeout=EVENT)


@pytest.fixture(params=["inproc", "tcp"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def maybe_server(kind: str, request: pytest.FixtureRequest) -> ServerThread | None:
    return request.getfixturevalue("server") if kind == "tcp" else None


def test_the_whole_interface(
    kind: str, engine: HsmEngine, maybe_server: ServerThread | None
) -> None:
    async def main() -> None:
        hsm = make(kind, engine, maybe_server)
        assert isinstance(hsm, AsyncHsm)
        assert await hsm.diagnostics() == engine.lmk_check_value()
        tmk = await hsm.generate_tmk()
        c1, c2 = await hsm.export_tmk_components(tmk.key_lmk)
        clear_tmk = bytes(a ^ b for a, b in zip(H(c1.component), H(c2.component), strict=True))
        keys = await hsm.generate_session_keys(tmk.key_lmk)
        mac_key = p.tdes_decrypt_ecb(clear_tmk, H(keys.mac.key_kek))
        pin_key = p.tdes_decrypt_ecb(clear_tmk, H(keys.pin.key_kek))
        assert (
            await hsm.kcv(keys.mac.key_lmk, "TAK") == keys.mac.kcv == p.kcv(mac_key).hex().upper()
        )
        mac = await hsm.generate_mac(keys.mac.key_lmk, b"message")
        assert mac == p.retail_mac(mac_key, b"message")
        assert await hsm.verify_mac(keys.mac.key_lmk, b"message", mac[:4])
        assert not await hsm.verify_mac(keys.mac.key_lmk, b"messagE", mac)
        block = p.tdes_encrypt_ecb(pin_key, p.pin_block_iso0("4321", PAN))
        stored = await hsm.translate_pin_to_lmk(keys.pin.key_lmk, block, PAN)
        assert stored == await hsm.encrypt_pin("4321", PAN)
        assert await hsm.verify_pin(keys.pin.key_lmk, block, PAN, stored)
        assert not await hsm.verify_pin(
            keys.pin.key_lmk,
            p.tdes_encrypt_ecb(pin_key, p.pin_block_iso0("4322", PAN)),
            PAN,
            stored,
        )
        bdk = await hsm.form_key("BDK", ["0123456789ABCDEFFEDCBA9876543210", "00" * 16])
        stored = await hsm.encrypt_pin("1234", "4012345678909")
        assert await hsm.verify_pin_dukpt(
            bdk.key_lmk, H("FFFF9876543210E00001"), H("1B9C1845EB993A7A"), "4012345678909", stored
        )
        with pytest.raises(PinBlockError):
            await hsm.verify_pin_dukpt(
                bdk.key_lmk,
                H("FFFF9876543210E00003"),
                H("1B9C1845EB993A7A"),
                "4012345678909",
                stored,
            )
        with pytest.raises(KeyParityError):  # the same error class on both backends
            await hsm.generate_mac(keys.pin.key_lmk, b"x")
        with pytest.raises(InputError):
            await hsm.verify_mac(keys.mac.key_lmk, b"x", b"123")
        assert (await hsm.generate_key(KeyType.ZAK)).key_lmk.startswith("U")
        await hsm.close()

    asyncio.run(main())


def test_many_concurrent_calls_on_one_connection(server: ServerThread) -> None:
    async def main() -> None:
        hsm = AsyncTcpHsm(server.host, server.port, timeout=EVENT)
        data = [f"message {i}".encode() * (i % 7 + 1) for i in range(300)]
        macs = await asyncio.gather(*(hsm.generate_mac(TAK, d) for d in data))
        assert macs == [p.retail_mac(CLEAR_TAK, d) for d in data]
        assert all(
            await asyncio.gather(
                *(hsm.verify_mac(TAK, d, m) for d, m in zip(data, macs, strict=True))
            )
        )
        await hsm.close()

    asyncio.run(main())


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _fake_server(handler: Handler) -> tuple[asyncio.Server, int]:
    srv = await asyncio.start_server(handler, "127.0.0.1", 0)
    return srv, srv.sockets[0].getsockname()[1]


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    (n,) = struct.unpack(">H", await reader.readexactly(2))
    return await reader.readexactly(n)


def _nc_answer(request: bytes) -> bytes:
    payload = request[:4] + b"ND00" + NC_FIELDS
    return struct.pack(">H", len(payload)) + payload


def test_requests_are_pipelined_and_answers_matched_by_header() -> None:
    # This HSM answers only once it holds three requests, and answers them in reverse:
    # a client that waited for each answer, or matched answers by order, would fail.
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests = [await _read_frame(reader) for _ in range(3)]
        for req in reversed(requests):
            payload = req[:4] + b"ND00" + req[6:22].ljust(16, b"0") + b"0007-L001"
            writer.write(struct.pack(">H", len(payload)) + payload)
        await writer.drain()
        writer.close()

    async def main() -> None:
        srv, port = await _fake_server(handler)
        hsm = AsyncTcpHsm("127.0.0.1", port, timeout=EVENT)
        ops_ = [hsm.run(_echo_op(tag)) for tag in (b"AAAA", b"BBBB", b"CCCC")]
        assert await asyncio.gather(*ops_) == ["AAAA", "BBBB", "CCCC"]
        await hsm.close()
        srv.close()
        await srv.wait_closed()

    asyncio.run(main())


def _echo_op(tag: bytes) -> Op[str]:
    """An NC whose body carries a tag that the fake HSM echoes in the check value field."""
    from hsm_sim.hostops import Op, _fields

    return Op("NC", tag, _fields("NC", lambda f: f[:4]))


def test_a_broken_connection_fails_calls_in_flight_and_the_next_call_reconnects() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        if connections == 1:
            await _read_frame(reader)
            await _read_frame(reader)
            writer.close()  # two calls in flight, then the HSM goes away
            return
        while True:
            try:
                writer.write(_nc_answer(await _read_frame(reader)))
            except asyncio.IncompleteReadError:
                return
            await writer.drain()

    async def main() -> None:
        srv, port = await _fake_server(handler)
        hsm = AsyncTcpHsm("127.0.0.1", port, timeout=EVENT)
        results = await asyncio.gather(hsm.diagnostics(), hsm.diagnostics(), return_exceptions=True)
        assert all(isinstance(r, ConnectionError) for r in results), results
        assert await hsm.diagnostics() == "0123456789ABCDEF"
        assert connections == 2
        await hsm.close()
        srv.close()
        await srv.wait_closed()

    asyncio.run(main())


def test_an_unknown_header_is_a_protocol_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        req = await _read_frame(reader)
        writer.write(_nc_answer(b"9999" + req[4:]))
        await writer.drain()
        await reader.read()

    async def main() -> None:
        srv, port = await _fake_server(handler)
        hsm = AsyncTcpHsm("127.0.0.1", port, timeout=EVENT)
        with pytest.raises(ProtocolError, match="unknown header"):
            await hsm.diagnostics()
        await hsm.close()
        srv.close()
        await srv.wait_closed()

    asyncio.run(main())


def test_a_silent_hsm_times_out() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads everything, answers nothing

    async def main() -> None:
        srv, port = await _fake_server(handler)
        hsm = AsyncTcpHsm("127.0.0.1", port, timeout=0.2)
        with pytest.raises(TimeoutError):
            await hsm.diagnostics()
        await hsm.close()
        srv.close()
        await srv.wait_closed()

    asyncio.run(main())


def test_a_cancelled_call_does_not_disturb_the_connection() -> None:
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await _read_frame(reader)
        await release.wait()  # hold the first answer until its caller has given up
        writer.write(_nc_answer(first))
        while True:
            try:
                writer.write(_nc_answer(await _read_frame(reader)))
            except asyncio.IncompleteReadError:
                return
            await writer.drain()

    async def main() -> None:
        srv, port = await _fake_server(handler)
        hsm = AsyncTcpHsm("127.0.0.1", port, timeout=EVENT)
        task = asyncio.create_task(hsm.diagnostics())
        while hsm._conn is None or not hsm._conn.pending:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()
        assert await hsm.diagnostics() == "0123456789ABCDEF"  # the late answer was discarded
        await hsm.close()
        srv.close()
        await srv.wait_closed()

    asyncio.run(main())


@pytest.mark.parametrize("failure", ["hung up", "silent", "refused"])
def test_a_failed_call_leaves_no_reference_cycle(failure: str) -> None:
    """The switch freezes what it makes and never collects it (docs/hsm.md, section 4): calls
    that fail (the HSM hangs up under them, stops answering, or is not there) must leave no
    cyclic garbage. On uvloop, whose transports make no cycles of their own: this test's fake
    HSMs run on the same loop (tests/switch/test_gc.py covers asyncio's loop)."""
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(2)
        writer.transport.abort()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        # The fake HSM closes its side, as a server does: left open, its own stream objects
        # stay in a cycle on Debian's 3.11.2 (not on 3.11.7, whose StreamWriter closes an
        # unclosed transport), which this test would count against the client.
        writer.close()

    async def main() -> None:
        srv, port = await _fake_server(hang_up if failure == "hung up" else silent)
        if failure == "refused":
            srv.close()
            await srv.wait_closed()
        hsm = AsyncTcpHsm("127.0.0.1", port, timeout=0.2)

        async def two_calls_fail() -> None:
            try:
                await asyncio.gather(hsm.diagnostics(), hsm.diagnostics())
            except OSError:  # ConnectionError, TimeoutError, ConnectionRefusedError
                return
            raise AssertionError("the calls did not fail")

        await two_calls_fail()  # warm up
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            await two_calls_fail()
            await two_calls_fail()
            gc.collect()
            kinds = Counter(type(o).__qualname__ for o in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        assert not kinds, kinds.most_common(8)
        await hsm.close()
        srv.close()
        await srv.wait_closed()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


def test_connect_hsm_async(lmk_path: Path, server: ServerThread) -> None:
    async def main() -> None:
        inproc = connect_hsm_async("inproc", lmk_path=lmk_path)
        assert isinstance(inproc, AsyncInProcessHsm)
        tcp = connect_hsm_async(f"tcp://{server.host}:{server.port}", timeout=EVENT)
        assert isinstance(tcp, AsyncTcpHsm)
        assert len(await tcp.diagnostics()) == 16
        await tcp.close()
        with pytest.raises(InputError):
            connect_hsm_async("tcp://host-without-port")

    asyncio.run(main())
