"""The switch freezes what survives each second and never collects old generations
(`switch.server.tune_gc`). That is only safe while serving requests makes no reference cycles:
a cycle would be frozen and kept for the life of the process, whatever its types (the
switch's own, or asyncio's futures, transports and tracebacks) and whichever of its threads
made it (`gc.freeze` takes the whole process's). These tests serve every kind of request, the
error paths and connection churn, operator commands and `/metrics` scrapes, and MACed traffic
through the in-process HSM and through `lps-hsm serve` over TCP (which goes away in every
round), and demand no cyclic garbage at all: the test's terminals, and its line to the TCP
HSM, run where they make none (`Terminals`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import gzip
import struct
import threading
import types
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvloop

from hsm_sim import primitives as P
from iso8583 import frame, load_profile
from lps.commands import admin_request
from switch.config import Config, load_config
from switch.server import Switch, tune_gc, untune_gc
from tests.security.support import Terminal, hsm_server, lps, new_terminal, write_config
from tests.switch.support import (
    T1,
    T2,
    T3,
    batch_close,
    burn,
    card,
    earn,
    inquiry,
    request,
    reversal,
)
from tests.switch.test_server import client, config_for, raw_exchange, running, signed_on
from tests.waits import EVENT

T = TypeVar("T")


def described(obj: Any) -> str:
    """A garbage object's type, with the code file and name of a frame, function or method."""
    func = getattr(obj, "__func__", obj)
    code = getattr(obj, "f_code", None) or getattr(func, "__code__", None)
    where = f" [{code.co_filename}:{code.co_name}]" if isinstance(code, types.CodeType) else ""
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}{where}"


class Terminals:
    """The test's terminals, on a thread and a uvloop loop of their own.

    The garbage the collector finds is the whole process's: terminals sharing the switch's
    loop would add their own cycles (asyncio's selector transports keep a method bound to
    themselves), and telling theirs from the switch's by type would let a cycle of foreign
    types that the switch makes pass. uvloop's transports and streams make none, so any cyclic
    garbage left after the rounds is the switch's (or this test's, which makes none either).
    """

    def __init__(self, name: str = "terminals") -> None:
        self.loop = uvloop.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)

    def __enter__(self) -> Terminals:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(EVENT)
        self.loop.close()

    async def run(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` on the terminals' loop; the caller's loop waits for it."""
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self.loop))

    def call(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` on the terminals' loop; the calling thread waits for it."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(EVENT)


class HsmLine:
    """The switch's line to `lps-hsm serve`, through the test: every call carried both ways,
    but for the next one after `cut` (an HSM restarted, or the network cut, with a call in
    flight), and no connection taken between `down` and `up` (the HSM down).

    On a uvloop thread of its own (`Terminals`): the terminals' blocking calls (`lps pin set`)
    use the HSM too."""

    def __init__(self, hsm: str) -> None:
        host, port = hsm.removeprefix("tcp://").rsplit(":", 1)
        self.hsm = (host, int(port))
        self.port = 0
        self.url = ""
        self.cutting = False
        self.server: asyncio.Server | None = None
        self.lines: set[asyncio.StreamWriter] = set()
        self.thread = Terminals("hsm-line")

    def __enter__(self) -> HsmLine:
        self.thread.__enter__()
        self.thread.call(self._up())
        self.url = f"tcp://127.0.0.1:{self.port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.call(self._down())
        self.thread.__exit__(*exc)

    def cut(self) -> None:
        self.cutting = True

    async def down(self) -> None:
        await self.thread.run(self._down())

    async def up(self) -> None:
        await self.thread.run(self._up())

    async def _up(self) -> None:
        self.server = await asyncio.start_server(self._carry, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _down(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.lines):
            writer.transport.abort()

    async def _carry(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hsm_reader, hsm_writer = await asyncio.open_connection(*self.hsm)
        self.lines.add(writer)
        answers = asyncio.create_task(self._answer(hsm_reader, writer))
        try:
            while True:
                size = await reader.readexactly(2)
                call = await reader.readexactly(struct.unpack(">H", size)[0])
                if self.cutting:
                    self.cutting = False
                    break
                hsm_writer.write(size + call)
        except (asyncio.IncompleteReadError, OSError):
            pass  # the switch hung up, or `down` did
        finally:
            self.lines.discard(writer)
            writer.transport.abort()
            hsm_writer.transport.abort()
            await answers

    @staticmethod
    async def _answer(hsm_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await hsm_reader.read(65536):
                writer.write(data)


#: What a Prometheus server asks for by default: OpenMetrics first, then the text format; gzip.
PROMETHEUS = {"Accept": "application/openmetrics-text;version=1.0.0,"
              "application/openmetrics-text;version=0.0.1;q=0.75,"
              "text/plain;version=0.0.4;q=0.5,*/*;q=0.1", "Accept-Encoding": "gzip"}


def scrape(sw: Switch, headers: dict[str, str] | None = None) -> str:
    """GET `/metrics` (a blocking call, on the terminals' thread, as the admin commands are);
    its Content-Type, the body checked to be Prometheus's text format, or OpenMetrics."""
    addr = sw.addresses["metrics"]
    headers = headers or {}
    req = urllib.request.Request(f"http://{addr.host}:{addr.port}/metrics", headers=headers)
    with urllib.request.urlopen(req, timeout=EVENT) as resp:
        body, kind = resp.read(), str(resp.headers["Content-Type"])
        gzipped = resp.headers["Content-Encoding"] == "gzip"
    assert gzipped == ("gzip" in headers.get("Accept-Encoding", ""))
    text = (gzip.decompress(body) if gzipped else body).decode()
    assert "# TYPE lps_request_seconds histogram\n" in text
    assert 'lps_requests_total{mti="0200",rc="00"} ' in text
    if kind.startswith("application/openmetrics-text"):
        assert text.endswith("# EOF\n")
    else:
        assert kind.startswith("text/plain; version=0.0.4")
    return kind


async def not_scrapes(sw: Switch) -> None:
    """What else reaches the metrics port: a method it refuses, a request it cannot parse
    (answered as HTTP/0.9, a bare page), a port check that connects and says nothing."""
    addr = sw.addresses["metrics"]
    for sent, answered in ((b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                            b"HTTP/1.0 405 "), (b"\xff\xfe\r\n\r\n", b"Error code: 400"),
                           (b"", b"")):
        reader, writer = await asyncio.open_connection(addr.host, addr.port)
        writer.write(sent)
        writer.write_eof()
        answer = await reader.read()
        assert answered in answer if sent else answer == b"", answer[:80]
        writer.close()


async def traffic(sw: Switch, round_: int) -> None:
    """One of everything, on fresh connections each round (connection churn included): the
    terminals' side, run on their own loop (it reads nothing of `sw` but its addresses)."""
    base = 1000 * round_
    c = await signed_on(sw, "ascii")
    pan = card(round_ + 7)
    e = earn(T1, base + 1, pan, 250_000)
    assert (await c.send(e)).fields[39] == "00"
    assert (await c.send(e)).fields[39] == "00"  # retransmission
    reused = earn(T1, base + 1, pan, 1_000)
    assert (await c.send(reused)).fields[39] == "94"
    b = burn(T2, base + 2, pan, 1_000)
    assert (await c.send(b)).fields[39] == "00"
    assert (await c.send(burn(T2, base + 3, pan, 10**9))).fields[39] == "51"
    assert (await c.send(inquiry(T3, base + 4, pan))).fields[39] == "00"
    assert (await c.send(reversal(b, base + 5))).fields[39] == "00"
    assert (await c.send(reversal(earn(T1, base + 6, pan, 5), base + 7))).fields[39] == "25"
    assert (await c.send(request("0200", "T0000099", base + 8, pan=pan, pc="000000",
                                 amount=1_000))).fields[39] == "03"
    good = card(round_ + 8)
    bad_luhn = good[:-1] + str((int(good[-1]) + 1) % 10)
    assert (await c.send(earn(T1, base + 9, bad_luhn, 1_000))).fields[39] == "14"
    advice = earn(T1, base + 10, pan, 30_000)
    advice.mti = "0220"
    assert (await c.send(advice)).fields[39] == "00"
    r = await c.send(batch_close(T1, base + 11, "000001", {}))
    assert r.fields[39] in ("00", "95")
    ascii_ = load_profile("ascii")
    bad = ascii_.encode(earn(T1, base + 12, pan, 1_000))[:-9] + b"0X6000001"
    assert ascii_.decode(await raw_exchange(sw, "ascii", bad)).fields[39] == "30"
    addr = sw.addresses["ascii"]
    reader, writer = await asyncio.open_connection(addr.host, addr.port)
    writer.write(frame(b"\xff\xfe"))  # garbage: the switch closes the connection
    assert await reader.read() == b""
    writer.close()
    other = await client(sw, "bcd")  # a terminal that goes away without a word
    assert other.writer is not None
    other.writer.transport.abort()
    await c.close()
    # operator commands on the admin socket: one committed, one refused (blocking calls, on
    # the terminals' loop, not the switch's)
    fresh = card(100 + round_)
    assert admin_request(sw.config, {"cmd": "enroll", "pan": fresh})["ok"] is True
    assert admin_request(sw.config, {"cmd": "enroll", "pan": fresh})["ok"] is False
    # `/metrics` scraped as a browser or curl does, and as a Prometheus server does
    assert scrape(sw).startswith("text/plain")
    assert scrape(sw, PROMETHEUS).startswith("application/openmetrics-text")
    await not_scrapes(sw)


async def keyed_traffic(sw: Switch, config: Path, tmk: bytes, pan: str, line: HsmLine | None,
                        round_: int) -> None:
    """A terminal that holds its TMK, on a new connection with new session keys each round
    (`profile` alternating): MACed requests (a retransmission, a tampered MAC, none at all),
    PIN burns (right, wrong, a block that is no PIN block), then requests written back to back
    so that later ones' HSM calls are in flight while earlier ones are decided (the sequencer).
    Through a `line`, the HSM then goes away under a call, and is down for the next.
    Round 0 also gives `pan` its points and PIN (`lps pin set`, a blocking call)."""
    base = 1000 * round_
    term = await Terminal(T1, "bcd" if round_ % 2 == 0 else "ascii", tmk).connect(sw)
    await term.key_exchange(800_000 + round_)
    assert (await term.send(request("0800", T1, base + 1, extra={70: "001"}))).fields[39] == "00"
    if round_ == 0:
        assert (await term.send(earn(T1, base + 2, pan, 500_000))).fields[39] == "00"
        code, _, err = lps("pin", "set", pan, "--config", str(config), stdin="2468\n")
        assert code == 0, err
    raw = term.encode(earn(T1, base + 3, pan, 10_000))
    first = await term.exchange(raw)
    assert term.check_response(first).fields[39] == "00"
    assert await term.exchange(raw) == first  # a retransmission: the journal's answer
    tampered = bytearray(raw)
    tampered[-1] ^= 0x80
    assert term.check_response(await term.exchange(bytes(tampered))).fields[39] == "63"
    unmaced = term.encode(earn(T1, base + 4, pan, 10_000), mac=False)
    assert term.check_response(await term.exchange(unmaced)).fields[39] == "63"
    assert term.pin_key is not None
    not_a_block = P.tdes_encrypt_ecb(term.pin_key, bytes.fromhex("F" * 16))  # format F
    for stan, block, rc in ((5, term.pin_block("2468", pan), "00"),
                            (6, term.pin_block("1111", pan), "55"), (7, not_a_block, "55"),
                            (8, term.pin_block("2468", pan), "00")):  # the count starts again
        r = await term.send(burn(T1, base + stan, pan, 1_000, extra={52: block}))
        assert r.fields[39] == rc, (stan, r.fields[39])
    msgs = [earn(T1, base + 10 + i, pan, 1_000) for i in range(3)]
    msgs += [burn(T1, base + 13, pan, 500, extra={52: term.pin_block("2468", pan)}),
             reversal(burn(T1, base + 13, pan, 500), base + 14), inquiry(T1, base + 15, pan)]
    assert term.reader is not None and term.writer is not None
    term.writer.write(b"".join(frame(term.encode(m)) for m in msgs))
    for _ in msgs:
        size = struct.unpack(">H", await asyncio.wait_for(term.reader.readexactly(2), EVENT))[0]
        r = term.check_response(await term.reader.readexactly(size))
        assert r.fields[39] == "00", (r.fields[11], r.fields[39])
    if line is not None:
        line.cut()  # 91; the answer is MACed over a new connection
        assert (await term.send(earn(T1, base + 20, pan, 1_000))).fields[39] == "91"
        await line.down()  # 91, and no MAC: there is no HSM to make one
        raw = await term.exchange(term.encode(earn(T1, base + 21, pan, 1_000)))
        assert term.profile.decode(raw).fields[39] == "91"
        await line.up()
    await term.close()


async def round_on(sw: Switch, terminals: Terminals, work: Coroutine[Any, Any, None]) -> None:
    """A round of traffic (`work`, on the terminals' loop), over when the switch has let go of
    every connection and the metrics server's thread for each of its requests has ended
    (their objects are then garbage or gone, which is what the caller looks at)."""
    await terminals.run(work)
    deadline = asyncio.get_running_loop().time() + EVENT
    while sw.connections or scrapes_served():
        assert asyncio.get_running_loop().time() < deadline, \
            f"{len(sw.connections)} left open, serving {scrapes_served()}"
        await asyncio.sleep(0.01)


def scrapes_served() -> list[threading.Thread]:
    """The metrics server's threads still serving a request: `socketserver.ThreadingMixIn`
    starts one per request, named after its target (`threading.Thread`, "name")."""
    return [t for t in threading.enumerate() if t.name.endswith("(process_request_thread)")]


async def cycles_made(sw: Switch, monkeypatch: pytest.MonkeyPatch,
                      rounds: Callable[[int], Coroutine[Any, Any, None]]) -> Counter[str]:
    """The cyclic garbage three rounds of `rounds(n)` leave, by `described` kind, after a round
    0 that warms up (first-use caches, lazily built objects).

    Looked for with nothing frozen while the rounds run: the switch freezes at every request
    it hands to the writer and every second (`tune_gc`), which would hide a cycle from the
    collection below."""
    with Terminals() as terminals:
        await round_on(sw, terminals, rounds(0))
        assert sw.writer.freeze is gc.freeze
        sw.writer.freeze = None
        monkeypatch.setattr(gc, "freeze", lambda: None)  # the sweeper's
        gc.collect()
        gc.garbage.clear()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for round_ in range(1, 4):
                await round_on(sw, terminals, rounds(round_))
            gc.collect()
            return Counter(described(o) for o in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()


#: The switch's event loops (`lps serve --loop`): uvloop by default, asyncio's own, whose
#: selector transports are the ones that made cycles.
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "uvloop": uvloop.new_event_loop, "asyncio": asyncio.SelectorEventLoop}


def serve(config: Config, loop: str, body: Callable[[Switch], Awaitable[None]]) -> None:
    """`body` against a switch on the event loop `loop` names, whatever the policy."""
    async def main() -> None:
        async with running(config) as sw:
            await body(sw)
    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        runner.run(main())


@pytest.mark.parametrize("loop", LOOPS)
def test_serving_makes_no_reference_cycles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           loop: str) -> None:
    async def body(sw: Switch) -> None:
        kinds = await cycles_made(sw, monkeypatch, lambda round_: traffic(sw, round_))
        assert not kinds, f"serving made reference cycles: {kinds.most_common(12)}"
    serve(config_for(tmp_path), loop, body)


@pytest.fixture(scope="module")
def hsm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`lps-hsm serve`, for the tests of this module that name it."""
    with hsm_server(tmp_path_factory.mktemp("hsm")) as (url, _proc):
        yield url


@pytest.mark.parametrize(("loop", "hsm"), [("uvloop", "tcp"), ("asyncio", "tcp"),
                                           ("uvloop", "inproc")])
def test_maced_serving_makes_no_reference_cycles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 request: pytest.FixtureRequest, loop: str,
                                                 hsm: str) -> None:
    """Key exchanges, MACs and PINs (`keyed_traffic`): through `lps-hsm serve` over TCP every
    HSM call is awaited (a future and a timer a call, the connection's reader task, the
    sequencer's task a request), and the HSM goes away in every round; in process they run
    inline."""
    with contextlib.ExitStack() as stack:
        line = None
        if hsm == "tcp":
            line = stack.enter_context(HsmLine(request.getfixturevalue("hsm_url")))
        path = write_config(tmp_path, hsm=line.url if line is not None else "inproc")
        tmk = new_terminal(path, T1)
        pan = card(40)

        async def body(sw: Switch) -> None:
            assert sw.security.inline is (line is None)
            kinds = await cycles_made(
                sw, monkeypatch, lambda round_: keyed_traffic(sw, path, tmk, pan, line, round_))
            assert not kinds, f"MACed serving made reference cycles: {kinds.most_common(12)}"
        serve(load_config(path), loop, body)


def test_tune_gc_freezes_and_untune_restores() -> None:
    before = gc.get_threshold()
    saved = tune_gc()
    try:
        assert saved == before
        assert gc.get_threshold()[0] == 2_000 and gc.get_threshold()[1] >= 1_000_000
        assert gc.get_freeze_count() > 0
    finally:
        untune_gc(saved)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
