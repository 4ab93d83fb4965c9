"""The load generator ends a run whose worker or target went away, instead of waiting for
figures that never come (benches/loadgen/__main__.py, `collect`), and paces its open loop
without spinning (`pause`)."""

from __future__ import annotations

import multiprocessing as mp
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from benches.loadgen import instructions
from benches.loadgen.__main__ import TICK, Worker, collect, instruction_figures, pause


@pytest.fixture
def target() -> Iterator[subprocess.Popen[bytes]]:
    """A target that runs until the test ends (it reads its stdin to the end)."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                            stdin=subprocess.PIPE)
    yield proc
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait()


def test_the_workers_figures_are_collected(target: subprocess.Popen[bytes]) -> None:
    pipes = [mp.Pipe(duplex=False) for _ in range(2)]
    for i, (_, sender) in enumerate(pipes):
        sender.send({"answers": i})
        sender.close()
    assert collect([r for r, _ in pipes], target) == [{"answers": 0}, {"answers": 1}]


def test_a_worker_gone_without_its_figures_ends_the_run(
        target: subprocess.Popen[bytes]) -> None:
    (first, sent), (second, gone) = mp.Pipe(duplex=False), mp.Pipe(duplex=False)
    sent.send({"answers": 1})
    gone.close()  # its worker died before sending (the target closed its connections)
    with pytest.raises(SystemExit, match="a worker ended without its figures"):
        collect([first, second], target)


def test_a_target_that_exited_during_the_run_ends_it() -> None:
    stopped = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    stopped.wait()
    reader, sender = mp.Pipe(duplex=False)
    sender.send({"answers": 10})
    with pytest.raises(SystemExit, match=r"the target exited during the run \(status 3\)"):
        collect([reader], stopped)


@pytest.mark.parametrize("gap", [0.0, 0.0001, 0.0005, 0.00099])
def test_the_open_loop_never_sleeps_under_a_tick(gap: float) -> None:
    """uvloop rounds a sleep to the nearest millisecond, half a millisecond or less to none:
    a shorter pause could spin."""
    assert pause(10.0 + gap, 10.0) == TICK


@pytest.mark.parametrize(("gap", "slept"), [(0.0015, 0.0015), (0.002, 0.002), (1.0, 0.002),
                                            (-5.0, TICK)])
def test_the_open_loop_sleeps_until_the_next_arrival_within_bounds(gap: float,
                                                                   slept: float) -> None:
    assert pause(10.0 + gap, 10.0) == pytest.approx(slept)


class _Lane:
    """A terminal that only notes when each of its requests was scheduled."""

    def __init__(self) -> None:
        self.sent: list[float] = []

    def send(self, scheduled: float) -> None:
        self.sent.append(scheduled)


def test_the_open_loop_sends_what_is_due_and_nothing_after_its_end() -> None:
    """`pump` runs at every wake-up of the worker (its timer, each read of answers): each
    call sends the arrivals scheduled by then, in order, measured from the warm-up's end,
    and none once the run is over."""
    worker = Worker({"cards": 3, "target": "echo", "mode": "open"}, 0)
    lanes = [_Lane(), _Lane()]
    worker.lanes, worker.rate = lanes, 1000.0
    worker.next_at, worker.measure_from, worker.end = 10.0, 10.05, 10.2
    worker.pump(9.99)
    assert not any(lane.sent for lane in lanes)  # nothing due yet
    worker.pump(10.1)
    first = sorted(t for lane in lanes for t in lane.sent)
    assert first and first[0] == 10.0 and first[-1] <= 10.1 < worker.next_at
    assert worker.measuring and len(worker.late) == sum(t >= 10.05 for t in first)
    assert all(late >= 0 for late in worker.late)
    worker.pump(99.0)
    sent = sorted(t for lane in lanes for t in lane.sent)
    assert sent[-1] < worker.end <= worker.next_at  # the run is over: no arrival after it
    count = len(sent)
    worker.pump(100.0)
    assert sum(len(lane.sent) for lane in lanes) == count


def test_callgrind_dumps_are_read_per_thread(tmp_path: Path) -> None:
    """`--callgrind` reads the first dump of the switch's process, one file per thread."""
    (tmp_path / "cg.41.1-01").write_text("events: Ir\nsummary: 1234\ntotals: 1240\n")
    (tmp_path / "cg.41.1-02").write_text("events: Ir\ntotals: 66\n")
    (tmp_path / "cg.41-01").write_text("totals: 999999\n")  # the dump at exit: not the run's
    (tmp_path / "cg.42.1-01").write_text("totals: 5\n")  # another process
    assert instructions.dumped(tmp_path, 41) == {1: 1234, 2: 66}
    assert instruction_figures({1: 1234, 2: 66}, 2) == {
        "loop_instructions_per_answer": 617, "instructions_per_answer": 650}


def test_a_missing_or_foreign_callgrind_dump_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no callgrind dump of process 41"):
        instructions.dumped(tmp_path, 41)
    (tmp_path / "cg.41.1-01").write_text("not callgrind\n")
    with pytest.raises(ValueError, match="not a callgrind dump"):
        instructions.dumped(tmp_path, 41)


def test_the_switch_runs_under_callgrind_with_counting_off(tmp_path: Path) -> None:
    cmd = instructions.command(["python", "-m", "lps.cli", "serve"], tmp_path)
    assert cmd[:4] == ["valgrind", "--tool=callgrind", "--separate-threads=yes",
                       "--instr-atstart=no"]
    assert cmd[4] == f"--callgrind-out-file={tmp_path}/cg.%p"
    assert cmd[5:] == ["python", "-m", "lps.cli", "serve"]
