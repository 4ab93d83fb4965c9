"""`python -m benches.loadgen`: drive the switch (and the echo server) and report the figures.

The target's CPU per answer (all threads, and its event-loop thread) is reported too.
Closed loop (`--mode closed`): every connection keeps `--inflight` requests outstanding; the
answers/s is the capacity. Open loop (`--mode open`): requests arrive at random (Poisson) at
`--rate` per second over all connections, whatever the answers do; latency is measured from
the scheduled arrival, so a switch that falls behind shows it (no coordinated omission).
The mix: 60 % earn, 25 % burn, 10 % inquiry, 5 % reversal of the connection's previous request.

The generator shares the machine with the target, so it reports its own cost too: its
workers' CPU per request sent, and in the open loop how late each request left after its
scheduled arrival (that lateness is inside the latencies). With `--callgrind` the switch
runs under valgrind and its instructions per answer are reported (benches/loadgen/instructions.py).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import json
import math
import multiprocessing as mp
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from benches.loadgen import instructions, timeline
from benches.loadgen.cpu import children_cpu_seconds, cpu_seconds
from benches.loadgen.mix import ROOT, Terminal, cards, prime_messages, write_config
from iso8583 import FrameDecoder, frame, load_profile
from switch.server import install_event_loop


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_command(root: Path) -> list[str]:
    """How the checkout at `root` starts its switch: its own virtualenv's Python (this one's
    for this checkout) and its `serve` command, in lps/cli.py or, in older trees, switch/cli.py."""
    python = sys.executable if root == ROOT else str(root / ".venv" / "bin" / "python")
    module = "lps.cli" if (root / "lps" / "cli.py").exists() else "switch.cli"
    return [python, "-m", module, "serve"]


def start_target(kind: str, loop: str, workdir: Path, terminals: int, root: Path = ROOT,
                 database: str = "", metrics: str = "", callgrind: bool = False
                 ) -> tuple[subprocess.Popen[bytes], int]:
    """The target listening; with `callgrind` the switch runs under it (`instructions`)."""
    port = free_port()
    if kind == "echo":
        cmd = [sys.executable, "-m", "benches.loadgen.echo", "--port", str(port), "--loop", loop]
        root = ROOT
    else:
        config = write_config(workdir, port, terminals, root, database, metrics)
        cmd = [*serve_command(root), "--config", str(config), "--loop", loop,
               "--log-level", "WARNING"]
        if callgrind:
            cmd = instructions.command(cmd, workdir)
    proc = subprocess.Popen(cmd, cwd=root)
    deadline = time.monotonic() + (instructions.START_SECONDS if callgrind else 60)
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

#: The open loop's shortest sleep. uvloop rounds a sleep to the nearest whole millisecond
#: (`round(delay * 1000)`; libuv's timers count milliseconds), so one of half a millisecond or
#: less returns at once: between arrivals that close (most of them at 2,000/s and over) the
#: worker would spin, taking a core's share from the target it measures.
TICK = 0.001
#: The open loop's longest sleep: it looks at the clock at least this often.
LONGEST_PAUSE = 0.002


def pause(next_at: float, now: float) -> float:
    """How long the open loop sleeps before the arrival scheduled at `next_at`: never under a
    tick (the arrivals due by then leave together, less than a tick late, and each latency
    counts from its scheduled arrival, so the lateness is in the figures), never over
    `LONGEST_PAUSE`."""
    return min(max(next_at - now, TICK), LONGEST_PAUSE)


class Lane(asyncio.Protocol):
    """One terminal connection; responses come back in order (FIFO of send times)."""

    def __init__(self, worker: Worker, tid: str) -> None:
        self.worker = worker
        self.terminal = Terminal(tid, worker.cards, worker.rng, worker.de7, worker.signon)
        self.decoder = FrameDecoder()
        self.sent: collections.deque[float] = collections.deque()
        self.transport: asyncio.Transport | None = None
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
        if not w.closed_loop:
            w.pump(time.perf_counter())

    def send(self, scheduled: float) -> None:
        assert self.transport is not None
        self.sent.append(scheduled)
        self.worker.sent += 1
        self.transport.write(frame(self.worker.profile.encode(self.terminal.message())))


class Sends(Protocol):
    """What the open loop's schedule needs of a terminal (`Lane`)."""

    def send(self, scheduled: float) -> None: ...


class Worker:
    def __init__(self, args: dict[str, Any], index: int) -> None:
        self.profile = load_profile("ascii")
        self.rng = random.Random(index * 7919 + 1)
        self.cards = cards(args["cards"])
        self.de7 = time.strftime("%m%d%H%M%S", time.gmtime())
        self.signon = args["target"] == "switch"
        self.closed_loop = args["mode"] == "closed"
        self.measuring = False
        self.stopping = False
        self.latencies: list[float] = []
        self.answers = 0
        self.approvals = 0
        self.total = 0  # every answer, warm-up included: the denominator of the CPU cost
        self.sent = 0  # every request, warm-up included: the denominator of the worker's CPU
        #: How late each measured request of the open loop left after its scheduled arrival.
        self.late: list[float] = []
        # The open loop's schedule (`pump`): its terminals, rate, next arrival and bounds.
        self.lanes: Sequence[Sends] = []
        self.rate = 0.0
        self.next_at = self.end = self.measure_from = math.inf

    def pump(self, now: float) -> None:
        """Send every arrival of the open loop scheduled by `now`. Called from its timer and
        after each read of answers: the worker wakes for either, and the answers come about
        as often as the arrivals, so an arrival waits for the next wake-up of either kind, not
        for the timer's tick alone."""
        while self.next_at <= now and self.next_at < self.end:
            self.measuring = self.next_at >= self.measure_from
            if self.measuring:
                self.late.append(now - self.next_at)
            self.rng.choice(self.lanes).send(self.next_at)
            self.next_at += self.rng.expovariate(self.rate)

    async def run(self, args: dict[str, Any], index: int, first: int, count: int) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        cpu0 = time.process_time()
        lanes = []
        for i in range(first, first + count):
            _, lane = await loop.create_connection(functools.partial(Lane, self, f"L{i:07d}"),
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
            self.lanes, self.rate = lanes, args["rate"] / args["workers"]
            started = self.next_at = time.perf_counter()
            self.end, self.measure_from = started + warmup + duration, started + warmup
            while self.next_at < self.end:
                self.pump(time.perf_counter())
                await asyncio.sleep(pause(self.next_at, time.perf_counter()))
            elapsed = duration
            await asyncio.sleep(1.0)  # let the last answers in
            self.measuring = False
        for lane in lanes:
            if lane.transport is not None:
                lane.transport.close()
        lat, late = sorted(self.latencies), sorted(self.late)
        return {"answers": self.answers, "approvals": self.approvals, "elapsed": elapsed,
                "total": self.total, "sent": self.sent, "cpu": time.process_time() - cpu0,
                "latencies": lat[:: max(1, len(lat) // 20000)],
                "late": late[:: max(1, len(late) // 20000)]}


def worker_main(args: dict[str, Any], index: int, first: int, count: int,
                out: Connection) -> None:
    install_event_loop(args["loop"] == "uvloop")
    out.send(asyncio.run(Worker(args, index).run(args, index, first, count)))


def collect(readers: list[Connection], target: subprocess.Popen[bytes]) -> list[dict[str, Any]]:
    """Each worker's figures. A worker that ended without sending them (it failed, or its
    target went away under it) and a target that exited during the run end the run with an
    error, not a wait that never ends."""
    results = []
    for reader in readers:
        try:
            results.append(reader.recv())
        except EOFError:
            raise SystemExit(f"loadgen: a worker ended without its figures (target exit "
                             f"status {target.poll()}; the output above says why)") from None
    if target.poll() is not None:
        raise SystemExit(f"loadgen: the target exited during the run (status {target.poll()})")
    return results


# -- the driver -----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else 0.0


def prime(port: int, args: argparse.Namespace) -> None:
    """Sign on one terminal and earn on every card, so that burns find points."""
    async def go() -> None:
        from switch.client import TerminalClient

        c = await TerminalClient("ascii", "127.0.0.1", port).connect()
        de7 = time.strftime("%m%d%H%M%S", time.gmtime())
        signon, *earns = prime_messages(cards(args.cards), de7)
        await c.send(signon)
        futs = [c.send_nowait(m) for m in earns]
        await asyncio.gather(*futs)
        await c.close()
    asyncio.run(go())


def run_once(target: str, args: argparse.Namespace, database: str = "") -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="lps-loadgen-"))
    metrics = f"127.0.0.1:{free_port()}" if args.switch_metrics and target == "switch" else ""
    callgrind = args.callgrind and target == "switch"
    proc, port = start_target(target, args.loop, workdir, args.connections, args.switch_root,
                              database, metrics, callgrind)
    held: dict[str, Any] | None = None
    counted: dict[int, int] = {}
    try:
        if target == "switch":
            prime(port, args)
        spec = vars(args) | {"port": port, "target": target}
        before = timeline.scrape(metrics) if metrics else {}
        cpu0, loop0 = cpu_seconds(proc.pid), cpu_seconds(proc.pid, thread=True)
        child0 = children_cpu_seconds(proc.pid)
        if callgrind:
            instructions.start(proc.pid)
        per = args.connections // args.workers
        pipes = [mp.Pipe(duplex=False) for _ in range(args.workers)]
        procs = [mp.Process(target=worker_main, args=(spec, i, 1 + i * per, per, pipes[i][1]))
                 for i in range(args.workers)]
        for p in procs:
            p.start()
        for _, sender in pipes:
            sender.close()  # the worker's alone now: its end reads as EOF once it is gone
        results = collect([reader for reader, _ in pipes], proc)
        for p in procs:
            p.join()
        if callgrind:
            counted = instructions.stop(proc.pid, workdir)
        cpu, loop_cpu = cpu_seconds(proc.pid) - cpu0, cpu_seconds(proc.pid, True) - loop0
        child_cpu = children_cpu_seconds(proc.pid) - child0
        cpu += child_cpu
        if metrics:
            held = timeline.summary(before, timeline.scrape(metrics))
    finally:
        proc.terminate()
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:  # the figures are taken: do not lose them to a slow stop
            print(f"{target} target still running 120 s after SIGTERM: killed", file=sys.stderr)
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    lat = sorted(x for r in results for x in r["latencies"])
    late = sorted(x for r in results for x in r["late"])
    sent = sum(r["sent"] for r in results)
    elapsed = max(r["elapsed"] for r in results)
    answers = sum(r["answers"] for r in results)
    total = sum(r["total"] for r in results)
    engine = None if target == "echo" else "postgresql" if database else "sqlite"
    return {
        "target": target, "engine": engine, "loop": args.loop, "mode": args.mode,
        "connections": args.connections, "inflight": args.inflight if args.mode == "closed"
        else None, "offered_rate": args.rate if args.mode == "open" else None,
        "answers_per_s": round(answers / elapsed), "approvals_per_s":
        round(sum(r["approvals"] for r in results) / elapsed),
        "p50_ms": round(percentile(lat, 0.50), 2), "p99_ms": round(percentile(lat, 0.99), 2),
        "duration_s": round(elapsed, 1),
        # CPU the target spent per answer (all threads and its commit process; its event-loop
        # thread alone; the commit process alone): the figure that moves least when other
        # work shares the machine.
        "cpu_us_per_answer": round(cpu * 1e6 / total, 1) if total else None,
        "loop_cpu_us_per_answer": round(loop_cpu * 1e6 / total, 1) if total else None,
        "commit_process_cpu_us_per_answer": round(child_cpu * 1e6 / total, 1)
        if total else None,
        # The generator's own CPU per request it sent (its workers, warm-up included), and how
        # late the open loop's requests left (part of every latency above).
        "loadgen_cpu_us_per_request": round(sum(r["cpu"] for r in results) * 1e6 / sent, 1)
        if sent else None,
    } | ({"send_late_p50_ms": round(percentile(late, 0.50), 2),
          "send_late_p99_ms": round(percentile(late, 0.99), 2)} if late else {}) \
        | ({"switch_metrics": held} if held is not None else {}) \
        | (instruction_figures(counted, total) if counted else {})


def instruction_figures(counted: dict[int, int], answers: int) -> dict[str, Any]:
    """`--callgrind`: the switch's instructions per answer, its event-loop thread's and all
    its threads' (not its commit process's), warm-up included as in the CPU figures."""
    return {"loop_instructions_per_answer": round(counted.get(1, 0) / answers) if answers
            else None,
            "instructions_per_answer": round(sum(counted.values()) / answers) if answers
            else None}


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
    p.add_argument("--switch-metrics", action="store_true",
                   help="read the switch's /metrics before and after the run and report its "
                        "loop lag, commits, GC pauses, checkpoint work and batch sizes over "
                        "the run (warm-up included)")
    p.add_argument("--switch-root", type=Path, default=ROOT,
                   help="run the switch of another checkout (with its own .venv), e.g. a "
                        "worktree of an older commit, to compare before and after in one session")
    p.add_argument("--callgrind", action="store_true",
                   help="run the switch under valgrind's callgrind, counting only while the "
                        "load runs, and report its instructions per answer (its time figures "
                        "then mean nothing; offer tens of requests a second)")
    p.add_argument("--database", action="append", default=[], metavar="URL",
                   help="the switch's journal: a postgresql:// URL of an empty database, or "
                        "'' for SQLite in a temporary directory; repeat to run the switch on "
                        "each in turn (default: SQLite)")
    args = p.parse_args()
    args.switch_root = args.switch_root.resolve()
    runs = [("switch", db) for db in args.database or [""]] if args.target != "echo" else []
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
