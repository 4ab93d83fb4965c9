"""pcscd with the vpcd driver, for the virtual card: found running, or started and stopped.

Shared by `make demo` (which skips its agent step with the reason) and the test suite (which
fails under CI=true and skips otherwise): one place knows how Debian lays pcscd and vpcd out.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from terminal_agent.testing.vicc import VPCD_LOCK, VPCD_PORTS, VPCD_READERS

VPCD_CONF = Path("/etc/reader.conf.d/vpcd")  # installed by Debian's vsmartcard-vpcd
# How long pcscd may take to come up before we call it broken: it is normally ready in well
# under a second, and a generous deadline only matters on a loaded machine.
PCSCD_READY_SECONDS = 60.0


class ServiceUnavailable(Exception):
    """pcscd/vpcd cannot be had on this machine now; the message says why."""


def listening(port: int) -> bool:
    """A local TCP listener on `port`, read from /proc (a probe connection would insert a
    card into vpcd's slot)."""
    needle = f":{port:04X} "
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as fh:
            for line in fh.readlines()[1:]:
                cols = line.split()
                if len(cols) > 3 and (cols[1] + " ").endswith(needle) and cols[3] == "0A":
                    return True
    return False


def wait_until(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout:g} s")
        time.sleep(0.05)


@contextlib.contextmanager
def pcscd_with_vpcd() -> Iterator[str]:
    """pcscd serving vpcd's readers: the running one, or one we start and stop again."""
    if listening(VPCD_PORTS[0]):
        yield "pcscd already running"
        return
    exe = shutil.which("pcscd") or next(
        (p for p in ("/usr/sbin/pcscd",) if os.path.exists(p)), None)
    if exe is None:
        raise ServiceUnavailable("pcscd is not installed (Debian: pcscd)")
    if not VPCD_CONF.exists():
        raise ServiceUnavailable("the vpcd driver is not installed (Debian: vsmartcard-vpcd)")
    if os.geteuid() != 0:
        raise ServiceUnavailable("pcscd is not running and starting it needs root")
    proc = subprocess.Popen([exe, "--foreground"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: listening(VPCD_PORTS[0]) or proc.poll() is not None,
                   PCSCD_READY_SECONDS, "pcscd vpcd")
        if proc.poll() is not None:
            raise ServiceUnavailable(f"pcscd exited with {proc.returncode}")
        from terminal_agent.card.pcsc import list_readers

        wait_until(lambda: VPCD_READERS[0] in list_readers(), PCSCD_READY_SECONDS,
                   "the vpcd reader")
        yield f"pcscd started (pid {proc.pid}), stopped again at the end"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def vpcd_slots(timeout: float) -> Iterator[None]:
    """The machine's vpcd slots: two sessions at once would insert cards into each other's
    readers, so whoever uses them holds this lock."""
    with open(VPCD_LOCK, "w") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ServiceUnavailable(
                        f"the vpcd slots are in use ({VPCD_LOCK} held)") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
