"""Message security: switch throughput with `require_mac = true` against `false` (same run),
and MAC verifications per second through the switch's security shell, in-process and over TCP.

    .venv/bin/pytest benches/bench_security.py --benchmark-only -s

Throughput: `lps serve` runs in its own process (uvloop, durable journal, in-process HSM) on
a fresh database per configuration. `require_mac = false`: terminals without session keys,
plain requests. `require_mac = true`: every terminal did a key exchange (0800/101) and every
request carries a MAC that the switch verifies through the HSM before deciding; every
response carries a MAC the switch generated. The load is closed-loop earns over 6 connections
(3 terminals x 2) with 48 requests in flight each. The requests are built and MACed before
each round so the client's own cryptography is not measured; a sample of each round's
responses is checked (approved, MAC verified with the terminal's clear session key).
One round = `REQUESTS` requests of each configuration, plain first; extra_info has both rates,
`ratio_mac_vs_plain` (issue 19's target: at least 0.8), each round's ratio, the switch
process's CPU per answer (all threads and its commit process, from /proc) in each
configuration and the load average at each round's end; `-s` prints one line per round.

MAC verifications: `Security.checks` on a MACed 0200 from a keyed terminal (MAC span, HSM
call, verdict), with the in-process HSM (one call per round) and with `lps-hsm serve` in its
own process: the asyncio client, 200 concurrent verifications per round over one pipelined
connection (extra_info `verifications_per_s`).
"""

from __future__ import annotations

import asyncio
import re
import socket
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from benches.loadgen.cpu import children_cpu_seconds, cpu_seconds
from hsm_sim import primitives as P
from hsm_sim.lmk import create_lmk_file
from iso8583 import FrameDecoder, Message, frame, load_profile
from iso8583.loyalty import build_tlv, parse_tlv
from switch.config import load_config
from switch.core import needs, new_state, parse_request
from switch.core.luhn import luhn_complete
from switch.core.request import Request
from switch.security import Security, run_now
from switch.security.shell import open_security

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "lps.toml"
STORES = {"T0000001": "STORE0000000001", "T0000002": "STORE0000000002",
          "T0000003": "STORE0000000003"}
REQUESTS = 6000
CONNECTIONS_PER_TERMINAL = 2
INFLIGHT = 48
PROFILE = load_profile("ascii")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) the process and its running children (the
    switch's commit process) have used so far."""
    return cpu_seconds(pid) + children_cpu_seconds(pid)


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(workdir: Path, port: int, require_mac: bool, hsm: str = "inproc") -> Path:
    text = EXAMPLE.read_text()
    text = text.replace('"127.0.0.1:8583"', f'"127.0.0.1:{port}"')
    text = text.replace('listen_bcd = "127.0.0.1:8584"', 'listen_bcd = ""')
    text = text.replace('metrics = "127.0.0.1:9583"', 'metrics = ""')
    text = text.replace('"var/lps.db"', f'"{workdir / "lps.db"}"')
    text = text.replace('hsm = "inproc"', f'hsm = "{hsm}"')
    text = text.replace("require_mac = false", f"require_mac = {str(require_mac).lower()}")
    path = workdir / "lps.toml"
    path.write_text(text)
    return path


def lps(*argv: str) -> str:
    out = subprocess.run([sys.executable, "-m", "lps.cli", *argv], capture_output=True,
                         text=True, check=True, cwd=ROOT)
    return out.stdout


def clear_tmk(printed: str) -> bytes:
    comps = [bytes.fromhex(line.split("component ")[1][2:].split("check")[0].replace(" ", ""))
             for line in printed.splitlines() if line.startswith("  component ")]
    return bytes(a ^ b for a, b in zip(comps[0], comps[1], strict=True))


def de7() -> str:
    return time.strftime("%m%d%H%M%S", time.gmtime())


@dataclass
class Target:
    """A running `lps serve` and the terminals' clear session keys (the terminals' side)."""

    port: int
    require_mac: bool
    proc: subprocess.Popen[bytes]
    mac_keys: dict[str, bytes] = field(default_factory=dict)
    stan: int = 0

    def request(self, tid: str, n: int) -> bytes:
        self.stan += 1
        pan = luhn_complete(f"628000{n % 5000:09d}")
        msg = Message("0200", {2: pan, 3: "000000", 4: "000000120000", 7: de7(),
                               11: f"{self.stan % 1_000_000:06d}", 41: tid, 42: STORES[tid],
                               48: build_tlv({"IN": f"B{self.stan}"}), 62: "000001"})
        key = self.mac_keys.get(tid)
        if key is None:
            return frame(PROFILE.encode(msg))
        msg.fields[64] = bytes(8)
        raw = PROFILE.encode(msg)
        return frame(PROFILE.replace_mac(raw, P.retail_mac(key, PROFILE.mac_span(raw))))


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   msg: Message) -> bytes:
    writer.write(frame(PROFILE.encode(msg)))
    size = struct.unpack(">H", await reader.readexactly(2))[0]
    return await reader.readexactly(size)


async def prepare_terminals(target: Target, tmks: dict[str, bytes]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    for i, tid in enumerate(STORES):
        if target.require_mac:
            raw = await exchange(reader, writer, Message("0800", {
                7: de7(), 11: f"{800000 + i:06d}", 41: tid, 70: "101"}))
            tags = parse_tlv(str(PROFILE.decode(raw).fields[48]))
            key = P.tdes_decrypt_ecb(tmks[tid], bytes.fromhex(tags["MK"]))
            assert P.kcv(key).hex().upper() == tags["MV"]
            target.mac_keys[tid] = key
        raw = await exchange(reader, writer, Message("0800", {
            7: de7(), 11: f"{810000 + i:06d}", 41: tid, 70: "001"}))
        assert PROFILE.decode(raw).fields[39] == "00"
    writer.close()


def wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("lps serve exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("lps serve did not listen")


def start_target(work: Path, require_mac: bool) -> Target:
    port = free_port()
    cfg = write_config(work, port, require_mac)
    tmks = {tid: clear_tmk(lps("keys", "new-terminal", tid, "--config", str(cfg)))
            for tid in STORES} if require_mac else {}
    proc = subprocess.Popen([sys.executable, "-m", "lps.cli", "serve", "--config", str(cfg),
                             "--log-level", "WARNING"], cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, proc)
        t = Target(port, require_mac, proc)
        asyncio.run(prepare_terminals(t, tmks))
    except BaseException:
        proc.terminate()
        raise
    return t


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[bool, Target]]:
    """Both switches up at once, so their rounds can alternate under the same machine load."""
    started: dict[bool, Target] = {}
    try:
        for require_mac in (False, True):
            work = tmp_path_factory.mktemp("mac" if require_mac else "plain")
            started[require_mac] = start_target(work, require_mac)
        yield started
    finally:
        for t in started.values():
            t.proc.terminate()
            t.proc.wait(30)


async def closed_loop(target: Target, batches: list[list[bytes]]) -> list[bytes]:
    """Each connection keeps INFLIGHT requests outstanding until its batch is answered."""
    samples: list[bytes] = []

    async def one(batch: list[bytes]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
        decoder = FrameDecoder(65535)
        sent = min(INFLIGHT, len(batch))
        writer.write(b"".join(batch[:sent]))
        answered = 0
        while answered < len(batch):
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("switch closed the connection")
            decoder.feed(data)
            got = list(decoder.frames())
            answered += len(got)
            if answered % 500 < len(got):
                samples.append(got[-1])
            more = batch[sent:sent + len(got)]
            sent += len(more)
            if more:
                writer.write(b"".join(more))
        writer.close()

    await asyncio.gather(*(one(b) for b in batches))
    return samples


def check_samples(target: Target, samples: list[bytes]) -> None:
    for raw in samples:
        resp = PROFILE.decode(raw)
        assert resp.fields[39] == "00", resp.fields
        if target.require_mac:
            key = target.mac_keys[str(resp.fields[41])]
            assert resp.fields[64] == P.retail_mac(key, PROFILE.mac_span(raw))
        else:
            assert 64 not in resp.fields


def test_switch_throughput_require_mac(benchmark: Any, targets: dict[bool, Target]) -> None:
    """One round: REQUESTS plain, then REQUESTS MACed (alternating, so load drifts cancel)."""
    tids = [tid for tid in STORES for _ in range(CONNECTIONS_PER_TERMINAL)]
    per_conn = REQUESTS // len(tids)
    count = per_conn * len(tids)
    seconds: dict[bool, list[float]] = {False: [], True: []}
    cpu_us: dict[bool, list[float]] = {False: [], True: []}
    loads: list[float] = []

    def batches(target: Target) -> list[list[bytes]]:
        return [[target.request(tid, c * per_conn + i) for i in range(per_conn)]
                for c, tid in enumerate(tids)]

    def setup() -> tuple[tuple[dict[bool, list[list[bytes]]]], dict[str, Any]]:
        return ({m: batches(t) for m, t in targets.items()},), {}

    def run(prepared: dict[bool, list[list[bytes]]]) -> None:
        for require_mac in (False, True):
            target = targets[require_mac]
            cpu = process_cpu(target.proc.pid)
            started = time.perf_counter()
            samples = asyncio.run(closed_loop(target, prepared[require_mac]))
            seconds[require_mac].append(time.perf_counter() - started)
            cpu_us[require_mac].append((process_cpu(target.proc.pid) - cpu) / count * 1e6)
            check_samples(target, samples)
        loads.append(load_average())
        print(f"\nround {len(loads)}: plain {count / seconds[False][-1]:,.0f}/s "
              f"({cpu_us[False][-1]:.0f} µs CPU per answer), require_mac "
              f"{count / seconds[True][-1]:,.0f}/s ({cpu_us[True][-1]:.0f} µs); ratio "
              f"{seconds[False][-1] / seconds[True][-1]:.3f}; load {loads[-1]:.2f}")

    benchmark.pedantic(run, setup=setup, rounds=7, warmup_rounds=1)
    rates = {m: count / statistics.median(v[1:]) for m, v in seconds.items()}  # no warm-up
    cpu = {m: statistics.median(v[1:]) for m, v in cpu_us.items()}
    ratio = rates[True] / rates[False]
    benchmark.extra_info.update({
        "plain_requests_per_s": round(rates[False]), "mac_requests_per_s": round(rates[True]),
        "ratio_mac_vs_plain": round(ratio, 3),
        "ratio_per_round": [round(p / m, 3) for p, m in zip(seconds[False][1:],
                                                            seconds[True][1:], strict=True)],
        "plain_cpu_us_per_answer": round(cpu[False], 1),
        "mac_cpu_us_per_answer": round(cpu[True], 1),
        "load_average_per_round": loads[1:],
    })
    print(f"\nswitch throughput: plain {rates[False]:,.0f} requests/s, require_mac "
          f"{rates[True]:,.0f} requests/s; ratio {ratio:.2f} (target >= 0.8); per round "
          f"{benchmark.extra_info['ratio_per_round']}; CPU per answer {cpu[False]:.0f} µs "
          f"plain, {cpu[True]:.0f} µs MACed; load {min(loads[1:]):.1f}-{max(loads[1:]):.1f}")


# -- MAC verifications through the shell -------------------------------------------------------


@dataclass
class Keyed:
    security: Security
    state: Any
    msg: Message
    payload: bytes

    def checks(self) -> Any:
        """The shell's HSM checks of this request, for the needs the core names."""
        req = parse_request(self.msg, self.state.protocol)
        assert isinstance(req, Request)
        return self.security.checks(self.state, req, needs(self.state, req), self.payload,
                                    PROFILE)


async def keyed(security: Security, lmk_dir: Path) -> Keyed:
    """A terminal with a session MAC key (under the LMK) and a 0200 MACed under it."""
    cfg = load_config(write_config(lmk_dir, 0, False))
    state = new_state(cfg)
    hsm = security.hsm
    tmk = await hsm.generate_tmk()
    mac_lmk = (await hsm.generate_session_keys(tmk.key_lmk)).mac.key_lmk
    state.terminals["T0000001"].mac_key_ref = mac_lmk
    msg = Message("0200", {2: luhn_complete("628000000000001"), 3: "000000", 4: "000000120000",
                           7: "1123100000", 11: "000001", 41: "T0000001",
                           42: "STORE0000000001", 48: build_tlv({"IN": "B1"}), 62: "000001",
                           64: bytes(8)})
    raw = PROFILE.encode(msg)
    payload = PROFILE.replace_mac(raw, await hsm.generate_mac(mac_lmk, PROFILE.mac_span(raw)))
    return Keyed(security, state, PROFILE.decode(payload), payload)


def test_mac_verify_inproc(benchmark: Any, tmp_path: Path) -> None:
    create_lmk_file(tmp_path / "lmk.json")
    cfg = load_config(write_config(tmp_path, 0, False))
    k = run_now(keyed(open_security(cfg), tmp_path))

    def verify() -> bool:
        return bool(run_now(k.checks()).mac_ok)

    assert benchmark(verify)
    benchmark.extra_info["verifications_per_s"] = round(1 / benchmark.stats.stats.median)


@pytest.fixture(scope="module")
def hsm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    lmk = tmp_path_factory.mktemp("hsm") / "lmk.json"
    create_lmk_file(lmk)
    console = lmk.with_name("console")
    proc = subprocess.Popen([sys.executable, "-m", "hsm_sim.cli", "serve", "--lmk", str(lmk),
                             "--listen", "127.0.0.1:0", "--console", str(console)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        match = re.search(r"listening on ([\d.]+:\d+)", proc.stdout.readline())
        assert match
        assert "console on" in proc.stdout.readline()
        # `lps keys new-terminal` splits the TMK with NE: the Authorised state (docs/hsm.md §6)
        subprocess.run([sys.executable, "-m", "hsm_sim.cli", "authorise", "--console",
                        str(console), "--minutes", "60"], check=True, capture_output=True)
        yield f"tcp://{match.group(1)}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_mac_verify_tcp_pipelined(benchmark: Any, tmp_path: Path, hsm_url: str) -> None:
    cfg = load_config(write_config(tmp_path, 0, False, hsm=hsm_url))
    per_round = 200
    loop = asyncio.new_event_loop()
    try:
        security = open_security(cfg)
        k = loop.run_until_complete(keyed(security, tmp_path))

        async def many() -> bool:
            verdicts = await asyncio.gather(*(
                k.checks() for _ in range(per_round)))
            return all(v.mac_ok for v in verdicts)

        assert benchmark(lambda: loop.run_until_complete(many()))
        loop.run_until_complete(security.close())
    finally:
        loop.close()
    benchmark.extra_info["verifications_per_s"] = round(per_round / benchmark.stats.stats.median)
    print(f"\nMAC verifications over TCP (asyncio, {per_round} in flight): "
          f"{per_round / benchmark.stats.stats.median:,.0f}/s")



# -- the security layer alone, for instruction counts ------------------------------------------


def security_layer(requests: int, workdir: Path) -> float:
    """CPU µs per MACed request spent in the security shell: `Security.checks` of a MACed 0200
    (its needs computed once) and `Security.seal` of its 0210, in process.

    Under callgrind, two runs with different `requests` give instructions per request as the
    difference of their totals over the difference of their counts (benches/README.md,
    "Message security").
    """
    create_lmk_file(workdir / "lmk.json")
    security = open_security(load_config(write_config(workdir, 0, False)))
    k = run_now(keyed(security, workdir))
    req = parse_request(k.msg, k.state.protocol)
    assert isinstance(req, Request)
    need = needs(k.state, req)
    ref = k.state.terminals["T0000001"].mac_key_ref
    resp = Message("0210", {**k.msg.fields, 39: "00", 48: build_tlv({"PB": "000000001200"})})
    del resp.fields[64]
    started = time.process_time()
    for _ in range(requests):
        assert run_now(security.checks(k.state, req, need, k.payload, PROFILE)).mac_ok
        run_now(security.seal(resp, PROFILE, ref))
    return (time.process_time() - started) / requests * 1e6


if __name__ == "__main__":
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m benches.bench_security",
                                     description=security_layer.__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lps-bench-security-") as tmp:
        print(f"{security_layer(args.requests, Path(tmp)):.2f} µs CPU per MACed request "
              f"(check + seal), {args.requests} requests")
