"""CPU time of a process, its event-loop thread and its child processes, from /proc (Linux)."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_seconds(pid: int, thread: bool = False) -> float:
    """CPU time (user + system) of a process, or of its main thread: the event loop's."""
    path = f"/proc/{pid}/task/{pid}/stat" if thread else f"/proc/{pid}/stat"
    try:
        fields = Path(path).read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds(pid: int) -> float:
    """CPU time of a process's child processes while they run: the switch's commit process
    (docs/switch.md, "The commit process")."""
    total = 0.0
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            pids = children.read_text().split()
        except OSError:
            continue
        total += sum(cpu_seconds(int(child)) for child in pids)
    return total
