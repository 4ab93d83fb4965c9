"""`python -m benches.loadgen`: drive the switch (and the echo server) and report the figures.

The target's CPU per answer (all threads, and its event-loop thread) is reported too.
Closed loop (`--mode closed`): every connection keeps `--inflight` requests outstanding; the
answers/s is the capacity. Open loop (`--mode open`): requests arrive at random (Poisson) at
`--rate` per second over all connections, whatever the answers do; latency is measured from
the scheduled arrival, so a switch that falls behind shows it (no coordinated omission).
The mix: 60 % earn, 25 % burn, 10 % inquiry, 5 % reversal of the connection's previous request.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import multiprocessing as mp
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from iso8583 import FrameDecoder, Message, frame, load_profile
from iso8583.loyalty import OriginalData, build_de90
from switch.core.luhn import luhn_complete
from switch.server import install_event_loop

ROOT = Path(__file__).resolve().parents[2]
STORES = ("STORE0000000001", "STORE0000000002", "STORE0000000003")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(workdir: Path, port: int, terminals: int, database: str = "") -> Path:
    """The example configuration with `terminals` terminals spread over its three stores, its
    journal in `workdir` (SQLite) or in the PostgreSQL database `database` names."""
    text = (ROOT / "examples" / "lps.toml").read_text()
    text = text.replace('"127.0.0.1:8583"', f'"127.0.0.1:{port}"')
    text = text.replace('listen_bcd = "127.0.0.1:8584"', 'listen_bcd = ""')
    text = text.replace('metrics = "127.0.0.1:9583"', 'metrics = ""')
    journal = (f'database = "{database}"\nstate_dir = "{workdir}"\n' if database
               else f'database = "{workdir / "lps.db"}"\n')
    text = re.sub(r'(?m)^database = "var/lps.db".*\n', journal, text, count=1)
    head, _, _ = text.partition("[terminal.T0000001]")
    limits = ("[switch.limits]\nmax_connections = 20000\nmax_inflight = 100000\n"
              "max_inflight_per_connection = 256\n\n")
    head = head.replace("[coalition.tehran-mall]", limits + "[coalition.tehran-mall]", 1)
    body = [head, '[terminal.P0000001]\nstore = "STORE0000000002"\n']
    for i in range(1, terminals + 1):
        body.append(f'[terminal.L{i:07d}]\nstore = "{STORES[i % 3]}"\n')
    path = workdir / "lps.toml"
    path.write_text("\n".join(body))
    return path


def start_target(kind: str, loop: str, workdir: Path, terminals: int, database: str = ""
                 ) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    if kind == "echo":
        cmd = [sys.executable, "-m", "benches.loadgen.echo", "--port", str(port), "--loop", loop]
    else:
        config = write_config(workdir, port, terminals, database)
        cmd = [sys.executable, "-m", "lps.cli", "serve", "--config", str(config),
               "--loop", loop, "--log-level", "WARNING"]
    proc = subprocess.Popen(cmd, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"{kind} target exited with {proc.returncode}") from None
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{kind} target did not start")


# -- the worker process -------------------------------------------------------------------------


class Lane(asyncio.Protocol):
    """One terminal connection; responses come back in order (FIFO of send times)."""

    def __init__(self, worker: Worker, tid: str) -> None:
        self.worker = worker
        self.tid = tid
        self.stan = 0
        self.decoder = FrameDecoder()
        self.sent: collections.deque[float] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.previous: Message | None = None
        self.ready = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.ready.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.decoder.feed(data)
        now = time.perf_counter()
        w = self.worker
        for payload in self.decoder.frames():
            started = self.sent.popleft()
            msg = w.profile.decode(payload)
            w.total += 1
            if w.measuring:
                w.latencies.append(now - started)
                w.answers += 1
                if msg.fields.get(39) == "00" and msg.mti == "0210":
                    w.approvals += 1
            if w.closed_loop and not w.stopping:
                self.send(now)

    def message(self) -> Message:
        w = self.worker
        self.stan = self.stan % 999_999 + 1
        base: dict[int, str | bytes] = {7: w.de7, 11: f"{self.stan:06d}", 41: self.tid}
        roll = w.rng.random()
        if w.signon and self.stan == 1:
            return Message(mti="0800", fields={**base, 70: "001"})
        base[42] = STORES[int(self.tid[1:]) % 3]
        pan = w.rng.choice(w.cards)
        if roll < 0.60:
            fields = {2: pan, 3: "000000", 4: f"{w.rng.choice((50_000, 200_000)):012d}"}
        elif roll < 0.85:
            fields = {2: pan, 3: "900000", 4: f"{w.rng.choice((1_000, 3_000)):012d}"}
        elif roll < 0.95 or self.previous is None:
            fields = {2: pan, 3: "310000"}
        else:
            p = self.previous
            od = OriginalData(p.mti, str(p.fields[11]), str(p.fields[7]))
            msg = Message(mti="0400", fields={**base, 2: p.fields[2], 3: p.fields[3],
                                              4: p.fields.get(4, "0" * 12), 90: build_de90(od)})
            self.previous = None
            return msg
        msg = Message(mti="0200", fields={**base, **fields})
        self.previous = msg
        return msg

    def send(self, scheduled: float) -> None:
        assert self.transport is not None
        self.sent.append(scheduled)
        self.transport.write(frame(self.worker.profile.encode(self.message())))


class Worker:
    def __init__(self, args: dict[str, Any], index: int) -> None:
        self.profile = load_profile("ascii")
        self.rng = random.Random(index * 7919 + 1)
        self.cards = [luhn_complete(f"628000{n:09d}") for n in range(args["cards"])]
        self.de7 = time.strftime("%m%d%H%M%S", time.gmtime())
        self.signon = args["target"] == "switch"
        self.closed_loop = args["mode"] == "closed"
        self.measuring = False
        self.stopping = False
        self.latencies: list[float] = []
        self.answers = 0
        self.approvals = 0
        self.total = 0  # every answer, warm-up included: the denominator of the CPU cost

    async def run(self, args: dict[str, Any], index: int, first: int, count: int) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        lanes = []
        for i in range(first, first + count):
            _, lane = await loop.create_connection(lambda i=i: Lane(self, f"L{i:07d}"),
                                                   "127.0.0.1", args["port"])
            lanes.append(lane)
            if self.signon:
                lane.send(time.perf_counter())
        await asyncio.sleep(0.5)
        warmup, duration = args["warmup"], args["duration"]
        if self.closed_loop:
            for lane in lanes:
                for _ in range(args["inflight"]):
                    lane.send(time.perf_counter())
            await asyncio.sleep(warmup)
            self.measuring = True
            started = time.perf_counter()
            await asyncio.sleep(duration)
            self.measuring = False
            elapsed = time.perf_counter() - started
            self.stopping = True
        else:
            rate = args["rate"] / args["workers"]
            started = time.perf_counter()
            t = started
            end = started + warmup + duration
            measure_from = started + warmup
            while t < end:
                now = time.perf_counter()
                while t <= now:
                    self.measuring = t >= measure_from
                    self.rng.choice(lanes).send(t)
                    t += self.rng.expovariate(rate)
                await asyncio.sleep(max(0.0, min(t - time.perf_counter(), 0.002)))
            elapsed = duration
            await asyncio.sleep(1.0)  # let the last answers in
            self.measuring = False
        for lane in lanes:
            if lane.transport is not None:
                lane.transport.close()
        lat = sorted(self.latencies)
        return {"answers": self.answers, "approvals": self.approvals, "elapsed": elapsed,
                "total": self.total,
                "latencies": lat[:: max(1, len(lat) // 20000)]}


def worker_main(args: dict[str, Any], index: int, first: int, count: int,
                out: mp.Queue[dict[str, Any]]) -> None:
    install_event_loop(args["loop"] == "uvloop")
    out.put(asyncio.run(Worker(args, index).run(args, index, first, count)))


# -- the driver -----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else 0.0


def cpu_seconds(pid: int, thread: bool = False) -> float:
    """CPU time (user + system) of a process, or of its main thread: the event loop's."""
    path = f"/proc/{pid}/task/{pid}/stat" if thread else f"/proc/{pid}/stat"
    try:
        fields = Path(path).read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def prime(port: int, args: argparse.Namespace) -> None:
    """Sign on one terminal and earn on every card, so that burns find points."""
    async def go() -> None:
        from switch.client import TerminalClient

        c = await TerminalClient("ascii", "127.0.0.1", port).connect()
        de7 = time.strftime("%m%d%H%M%S", time.gmtime())
        await c.send(Message(mti="0800", fields={7: de7, 11: "000001", 41: "P0000001"}
                             | {70: "001"}))
        futs = []
        for n in range(args.cards):
            pan = luhn_complete(f"628000{n:09d}")
            futs.append(c.send_nowait(Message(mti="0200", fields={
                2: pan, 3: "000000", 4: "000010000000", 7: de7, 11: f"{n + 2:06d}",
                41: "P0000001", 42: STORES[1]})))
        await asyncio.gather(*futs)
        await c.close()
    asyncio.run(go())


def run_once(target: str, args: argparse.Namespace, database: str = "") -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="lps-loadgen-"))
    proc, port = start_target(target, args.loop, workdir, args.connections, database)
    try:
        if target == "switch":
            prime(port, args)
        spec = vars(args) | {"port": port, "target": target}
        queue: mp.Queue[dict[str, Any]] = mp.Queue()
        cpu0, loop0 = cpu_seconds(proc.pid), cpu_seconds(proc.pid, thread=True)
        per = args.connections // args.workers
        procs = [mp.Process(target=worker_main, args=(spec, i, 1 + i * per, per, queue))
                 for i in range(args.workers)]
        for p in procs:
            p.start()
        results = [queue.get() for _ in procs]
        for p in procs:
            p.join()
        cpu, loop_cpu = cpu_seconds(proc.pid) - cpu0, cpu_seconds(proc.pid, True) - loop0
    finally:
        proc.terminate()
        proc.wait(30)
    lat = sorted(x for r in results for x in r["latencies"])
    elapsed = max(r["elapsed"] for r in results)
    answers = sum(r["answers"] for r in results)
    total = sum(r["total"] for r in results)
    engine = None if target == "echo" else "postgresql" if database else "sqlite"
    return {
        "target": target, "engine": engine,
        "loop": args.loop, "mode": args.mode,
        "connections": args.connections, "inflight": args.inflight if args.mode == "closed"
        else None, "offered_rate": args.rate if args.mode == "open" else None,
        "answers_per_s": round(answers / elapsed), "approvals_per_s":
        round(sum(r["approvals"] for r in results) / elapsed),
        "p50_ms": round(percentile(lat, 0.50), 2), "p99_ms": round(percentile(lat, 0.99), 2),
        "duration_s": round(elapsed, 1),
        # CPU the target spent per answer (all threads; its event-loop thread alone): the
        # figure that moves least when other work shares the machine.
        "cpu_us_per_answer": round(cpu * 1e6 / total, 1) if total else None,
        "loop_cpu_us_per_answer": round(loop_cpu * 1e6 / total, 1) if total else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benches.loadgen", description=__doc__)
    p.add_argument("--target", choices=("switch", "echo", "both"), default="both")
    p.add_argument("--mode", choices=("closed", "open"), default="closed")
    p.add_argument("--connections", type=int, default=100)
    p.add_argument("--inflight", type=int, default=16, help="per connection (closed loop)")
    p.add_argument("--rate", type=float, default=2000, help="requests/s offered (open loop)")
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--warmup", type=float, default=2)
    p.add_argument("--workers", type=int, default=1, help="load generator processes")
    p.add_argument("--cards", type=int, default=2000)
    p.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    p.add_argument("--database", action="append", default=[], metavar="URL",
                   help="the switch's journal: a postgresql:// URL of an empty database, or "
                        "'' for SQLite in a temporary directory; repeat to run the switch on "
                        "each in turn (default: SQLite)")
    args = p.parse_args()
    databases = args.database or [""]
    runs = [("switch", db) for db in databases] if args.target != "echo" else []
    if args.target != "switch":
        runs.append(("echo", ""))
    rows = [run_once(t, args, db) for t, db in runs]
    for row in rows:
        print(json.dumps(row))
    if len(rows) >= 2 and rows[-1]["target"] == "echo" and rows[-1]["answers_per_s"]:
        for row in rows[:-1]:
            print(json.dumps({"engine": row["engine"], "ratio_switch_echo": round(
                row["answers_per_s"] / rows[-1]["answers_per_s"], 3)}))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
