"""The switch's instructions per answer, counted by callgrind (`--callgrind`).

Time per answer moves with what else the two cores run and with how warm the caches are;
the instructions a run executes do not, so a change to the request path shows in them
whatever the machine is doing (benches/README.md, "Instructions per answer"). The switch's
process runs under `valgrind --tool=callgrind` with counting off (its start-up and recovery
are not counted and run faster); it is switched on just before the load starts and the
counts are dumped, per thread, when it ends. The commit process is started by the switch
from its own interpreter, outside valgrind, and is not counted.

Under valgrind the switch runs some fifty times slower: offer it tens of requests a
second, and read its time figures as meaningless.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

#: How long a switch under valgrind may take to listen (imports and recovery, uncounted).
START_SECONDS = 600.0
#: A dump's total (what callgrind_annotate prints as PROGRAM TOTALS); `totals:` where not.
_SUMMARY = re.compile(r"^summary: (\d+)$", re.MULTILINE)
_TOTALS = re.compile(r"^totals: (\d+)$", re.MULTILINE)
_THREAD = re.compile(r"-(\d+)$")


def command(cmd: Sequence[str], outdir: Path) -> list[str]:
    """`cmd` under callgrind, counting off, one file per thread and dump in `outdir`."""
    return ["valgrind", "--tool=callgrind", "--separate-threads=yes", "--instr-atstart=no",
            f"--callgrind-out-file={outdir}/cg.%p", *cmd]


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True,
                   timeout=120)


def start(pid: int) -> None:
    """Count from now on (the counts so far, none with counting off, are zeroed)."""
    _control(pid, "--zero")
    _control(pid, "--instr=on")


def stop(pid: int, outdir: Path) -> dict[int, int]:
    """Dump the counts since `start` and stop counting: instructions by thread (1: main)."""
    _control(pid, "--dump=load")
    _control(pid, "--instr=off")
    return dumped(outdir, pid)


def dumped(outdir: Path, pid: int) -> dict[int, int]:
    """Instructions by thread in the first dump of process `pid` (files `cg.PID.1-TT`)."""
    counts: dict[int, int] = {}
    for path in sorted(outdir.glob(f"cg.{pid}.1-*")):
        thread = _THREAD.search(path.name)
        text = path.read_text(errors="replace")
        total = _SUMMARY.search(text) or _TOTALS.search(text)
        if thread is None or total is None:
            raise ValueError(f"{path}: not a callgrind dump of one thread")
        counts[int(thread.group(1))] = int(total.group(1))
    if not counts:
        raise ValueError(f"no callgrind dump of process {pid} in {outdir}")
    return counts
