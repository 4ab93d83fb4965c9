"""Run one PostgreSQL server under a child subreaper, so that none of its processes outlives it.

A postmaster killed with SIGKILL (as tests/pg/cluster.py kills a primary, like a dead machine)
leaves its backends orphaned. Linux hands orphans to the nearest subreaper ancestor, and a PID 1
that never reaps would keep them as zombies for good. This process is that subreaper: it starts
the server in a process group of its own, reaps every process of it, and exits only when none is
left, so the test that waits for this process knows the whole server is gone.

If the test run dies first, the kernel sends this process SIGTERM (PR_SET_PDEATHSIG) and it shuts
the server down at once (SIGQUIT, PostgreSQL's immediate shutdown) instead of leaving it running.

Usage: reaper.py PARENT_PID USER|- PROGRAM ARGS...  (the server's pid is written to stdout).
Standard library only: it runs before anything of LPS is importable in the child.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import signal
import subprocess
import sys
from types import FrameType

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def _start(user: str, argv: list[str]) -> subprocess.Popen[bytes]:
    if user == "-":
        return subprocess.Popen(argv, process_group=0)
    account = pwd.getpwnam(user)
    # the server's own uid and gid, without the supplementary groups of root
    return subprocess.Popen(argv, process_group=0, user=account.pw_uid,
                            group=account.pw_gid, extra_groups=[])


def main(args: list[str]) -> int:
    parent, user, argv = int(args[0]), args[1], args[2:]
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before PDEATHSIG was armed
        return 1
    server = _start(user, argv)
    print(server.pid, flush=True)

    def shut_down(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGQUIT)

    signal.signal(signal.SIGTERM, shut_down)
    status = 0
    while True:
        try:
            pid, raw = os.wait()
        except ChildProcessError:  # nothing left to reap: the server is entirely gone
            return status
        if pid == server.pid:
            code = os.waitstatus_to_exitcode(raw)
            status = code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
