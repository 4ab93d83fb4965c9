"""`python -m benches.drive`: the switch's whole request path in one process, closed loop.

A real `Switch` (recovery, security, the writer thread, group commit into SQLite with
`synchronous=FULL`) with in-memory transports in place of sockets: each terminal keeps
`--inflight` requests outstanding and sends the next one when an answer is written, as the
closed-loop load generator does (the same mix, benches/loadgen/mix.py). Every request frame is
encoded before the run starts, so what the run costs per answer is the switch's: framing,
decode, the core, encode, the group commit, the replies' writes, plus a few hundred
nanoseconds of the driver counting reply frames.

It prints the CPU per answer (the process, all threads; and the event-loop thread alone),
measured from the `--warmup`th answer to the last, with the wall time per answer, the entries
per group commit (of the commits that ended in that window) and the share of that window the
writer spent committing (`commit_share`): each terminal waits for its answers' commit before
it sends again, so when the commits are as large as everything in flight the loop has nothing
to decide while one runs, and the wall time per answer is about the loop's CPU plus the
commit's share. Under `valgrind
--tool=callgrind`, two runs with different `--answers` and the same `--pregen` give
instructions per answer as the difference of their totals divided by the difference of their
answers: a figure that the machine's load does not move (benches/README.md, "Instructions
per answer").
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import sqlite3
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any, NamedTuple

from benches.loadgen.cpu import children_cpu_seconds
from benches.loadgen.mix import Terminal, cards, prime_messages, write_config
from iso8583 import frame, load_profile
from switch.config import load_config
from switch.server import Switch, install_event_loop

try:
    from switch.connection import Connection
except ImportError:  # a tree older than switch/connection.py, run for a before/after figure
    from switch.server import Connection  # type: ignore[attr-defined,no-redef,unused-ignore]


class Pipe:
    """An in-memory transport: the switch writes answers here; each answer frame lets the
    terminal send its next request (on the next loop turn, as a socket read would)."""

    def __init__(self, driver: Driver, requests: deque[bytes]) -> None:
        self.driver = driver
        self.requests = requests
        self.conn: Connection | None = None
        self.closing = False

    def write(self, data: bytes) -> None:
        count, pos, size = 0, 0, len(data)
        while pos < size:
            pos += 2 + ((data[pos] << 8) | data[pos + 1])
            count += 1
        self.driver.answered(count)
        self.send(count)

    def send(self, count: int) -> None:
        out = []
        requests = self.requests
        while count and requests and not self.driver.stopping:
            out.append(requests.popleft())
            count -= 1
        if out:
            assert self.conn is not None
            self.driver.loop.call_soon(self.conn.data_received, b"".join(out))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 0) if name == "peername" else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    abort = close


class Mark(NamedTuple):
    """The clocks and the writer's commit counters at one answer count."""

    process: float
    thread: float
    wall: float
    commits: float
    entries: float
    commit_seconds: float
    #: CPU of the switch's commit process (docs/switch.md, "The commit process").
    children: float


def commit_totals(switch: Switch) -> tuple[float, float, float]:
    """The group commits so far, the journal entries they wrote (`lps_batch_entries`' count
    and sum) and the seconds they took (`lps_commit_seconds`' sum: the writer thread's time
    from its BEGIN to its COMMIT's return)."""
    totals = {s.name: s.value
              for histogram in (switch.metrics.batch_size, switch.metrics.commit_seconds)
              for metric in histogram.collect() for s in metric.samples}
    return (totals["lps_batch_entries_count"], totals["lps_batch_entries_sum"],
            totals["lps_commit_seconds_sum"])


class Driver:
    def __init__(self, args: argparse.Namespace, switch: Switch) -> None:
        self.args = args
        self.switch = switch
        self.loop = asyncio.get_running_loop()
        self.answers = 0
        self.stopping = False
        self.done = asyncio.Event()
        self.marks: list[Mark] = []

    def mark(self) -> None:
        self.marks.append(Mark(time.process_time(), time.thread_time(), time.perf_counter(),
                               *commit_totals(self.switch), children_cpu_seconds(os.getpid())))

    def answered(self, count: int) -> None:
        before = self.answers
        self.answers += count
        if before < self.args.warmup <= self.answers:
            self.mark()
        if self.answers >= self.args.answers and not self.stopping:
            self.mark()
            self.stopping = True
            self.done.set()


def requests(args: argparse.Namespace, de7: str) -> list[deque[bytes]]:
    """Every terminal's request frames, `--pregen` in all, encoded before the run."""
    profile = load_profile("ascii")
    rng = random.Random(1)
    pans = cards(args.cards)
    terminals = [Terminal(f"L{i:07d}", pans, rng, de7, True)
                 for i in range(1, args.connections + 1)]
    per = -(-args.pregen // args.connections) + args.inflight
    return [deque(frame(profile.encode(t.message())) for _ in range(per)) for t in terminals]


async def prime(switch: Switch, pans: int, de7: str) -> None:
    """The load generator's priming (an earn on every card), through one connection."""
    profile = load_profile("ascii")
    frames = [frame(profile.encode(m)) for m in prime_messages(cards(pans), de7)]
    answered = asyncio.Event()
    left = len(frames)

    class Sink(Pipe):
        def write(self, data: bytes) -> None:
            nonlocal left
            pos = 0
            while pos < len(data):
                pos += 2 + ((data[pos] << 8) | data[pos + 1])
                left -= 1
            if left == 0:
                answered.set()

    conn = Connection(switch, profile, "ascii")
    sink = Sink(None, deque())  # type: ignore[arg-type]
    conn.connection_made(sink)  # type: ignore[arg-type]
    for start in range(0, len(frames), 200):
        conn.data_received(b"".join(frames[start:start + 200]))
        await asyncio.sleep(0)
    await answered.wait()
    conn.connection_lost(None)


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    config = load_config(write_config(workdir, 0, args.connections))
    switch = Switch(config)
    await switch.start()
    de7 = dt.datetime.now(dt.UTC).strftime("%m%d%H%M%S")
    await prime(switch, args.cards, de7)
    driver = Driver(args, switch)
    profile = load_profile("ascii")
    pipes = []
    for queue in requests(args, de7):
        pipe = Pipe(driver, queue)
        conn = Connection(switch, profile, "ascii")
        pipe.conn = conn
        conn.connection_made(pipe)  # type: ignore[arg-type]
        pipes.append(pipe)
    for pipe in pipes:
        pipe.send(args.inflight)
    await driver.done.wait()
    await switch.writer.drain()
    commits = switch.writer.commits
    await switch.stop()
    first, last = driver.marks
    measured = driver.answers - args.warmup
    window = last.wall - first.wall
    measured_commits = last.commits - first.commits
    return {"answers": driver.answers, "measured": measured, "commits": commits,
            # The process's threads and its commit process.
            "cpu_us_per_answer": round((last.process - first.process + last.children
                                        - first.children) * 1e6 / measured, 1),
            "loop_cpu_us_per_answer": round((last.thread - first.thread) * 1e6 / measured, 1),
            "commit_process_cpu_us_per_answer":
                round((last.children - first.children) * 1e6 / measured, 1),
            "wall_us_per_answer": round(window * 1e6 / measured, 1),
            "entries_per_commit": round((last.entries - first.entries) / measured_commits)
            if measured_commits else None,
            "commit_share": round((last.commit_seconds - first.commit_seconds) / window, 3)}


def approvals(database: Path) -> dict[str, int]:
    conn = sqlite3.connect(database)
    try:
        return dict(conn.execute("SELECT response_code, COUNT(*) FROM journal "
                                 "GROUP BY response_code").fetchall())
    finally:
        conn.close()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benches.drive", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--answers", type=int, default=20_000, help="stop after this many answers")
    p.add_argument("--warmup", type=int, default=2_000, help="answers before measuring")
    p.add_argument("--pregen", type=int, default=0,
                   help="request frames encoded before the run (default: --answers); keep it "
                        "the same across runs compared by their instruction counts")
    p.add_argument("--connections", type=int, default=100)
    p.add_argument("--inflight", type=int, default=4, help="per connection")
    p.add_argument("--cards", type=int, default=2000)
    p.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = p.parse_args()
    args.pregen = max(args.pregen, args.answers)
    install_event_loop(args.loop == "uvloop")
    with tempfile.TemporaryDirectory(prefix="lps-drive-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        result = asyncio.run(run(args, workdir))
        result["wall_s"] = round(time.perf_counter() - started, 1)
        result["response_codes"] = approvals(workdir / "lps.db")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
